"""The attention launcher's block-size selection and options, without a GPU: the FASTLM_ATTN_TUNE /
FASTLM_ATTN_CONFIGS / FASTLM_ATTN_ROPE_K switches, the autotune lists and keys, and that importing it runs
nothing."""
import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("triton")

from fastlm.kernels import launch  # noqa: E402

DPS = (16, 32, 64, 128, 256)


def test_import_runs_no_autotuning():
    assert launch._fwd_tuned.cache == {} and launch._bwd_tuned.cache == {}


def test_autotune_keys_are_head_dim_and_seqlen_bucket():
    for tuned in (launch._fwd_tuned, launch._bwd_tuned):
        assert tuned.keys[:2] == ["D", "SEQ_BUCKET"]
    assert launch._bwd_tuned.keys[-1] == "MODE"
    assert [launch._bucket(n) for n in (1, 16, 17, 1000, 1024, 1025)] == [16, 16, 32, 1024, 1024, 2048]


def test_default_blocks_cover_every_padded_head_dim():
    for kind in launch.KINDS:
        assert sorted(launch.DEFAULT_BLOCKS[kind]) == list(DPS)
        for dp in DPS:
            for m, n, warps, stages in (launch.DEFAULT_BLOCKS[kind][dp],) + launch.ALTERNATIVES[kind][dp]:
                assert m >= 16 and n >= 16 and 128 % n == 0 and warps in (4, 8) and stages in (1, 2, 3, 4)


@pytest.mark.parametrize("kind,mode", [("fwd", None), ("dq", launch.MODE_DQ), ("dkdv", launch.MODE_DKDV)])
@pytest.mark.parametrize("dp", DPS)
def test_prune_keeps_this_kinds_default_first(kind, mode, dp):
    tuned = launch._fwd_tuned if kind == "fwd" else launch._bwd_tuned
    kw = {"DP": dp} if mode is None else {"DP": dp, "MODE": mode}
    kept = launch._prune(tuned.configs, {}, **kw)
    blocks = [launch._block_of(c) for c in kept]
    assert blocks[0] == launch.DEFAULT_BLOCKS[kind][dp]
    assert blocks == [launch.DEFAULT_BLOCKS[kind][dp], *launch.ALTERNATIVES[kind][dp]]
    assert 1 <= len(blocks) <= 5 and all(c.fastlm_kind == kind for c in kept)


def test_pick_block_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTLM_ATTN_CONFIGS", raising=False)
    monkeypatch.delenv("FASTLM_ATTN_TUNE", raising=False)
    assert launch.pick_block("fwd", 128) is None  # autotune
    monkeypatch.setenv("FASTLM_ATTN_TUNE", "0")
    assert launch.pick_block("dq", 64) == launch.DEFAULT_BLOCKS["dq"][64]
    table = tmp_path / "blocks.json"
    table.write_text(json.dumps({"fwd": {"128": [64, 32, 4, 2]}, "note": "other keys ride along"}))
    monkeypatch.setenv("FASTLM_ATTN_CONFIGS", str(table))
    monkeypatch.setenv("FASTLM_ATTN_TUNE", "1")
    assert launch.pick_block("fwd", 128) == (64, 32, 4, 2)
    assert launch.pick_block("fwd", 64) is None  # not in the table: autotune
    assert launch.pick_block("dkdv", 128) is None


@pytest.mark.parametrize("content,match", [("{", "cannot read"), ('{"fwd": {"64": [64, 48, 4, 2]}}', "powers of two"),
                                           ('{"dq": {"64": [64, 256, 4, 2]}}', "dividing 128"),
                                           ("[1, 2]", "expected")])
def test_bad_config_table_names_the_file(monkeypatch, tmp_path, content, match):
    table = tmp_path / "bad.json"
    table.write_text(content)
    monkeypatch.setenv("FASTLM_ATTN_CONFIGS", str(table))
    with pytest.raises(ValueError, match=match) as e:
        launch.pick_block("fwd", 64)
    assert str(table) in str(e.value)


def test_rope_k_mode(monkeypatch):
    monkeypatch.delenv("FASTLM_ATTN_ROPE_K", raising=False)
    assert launch.rope_k_mode() == "prepass"
    monkeypatch.setenv("FASTLM_ATTN_ROPE_K", "tile")
    assert launch.rope_k_mode() == "tile"
    monkeypatch.setenv("FASTLM_ATTN_ROPE_K", "fused")
    with pytest.raises(ValueError, match="prepass"):
        launch.rope_k_mode()
