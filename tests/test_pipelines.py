"""Pipelines: pickling (self-contained, cached), multiprocessing, concurrent.futures and HF `datasets`.

Ray Data lives in test_pipelines_ray.py (one module-scoped local cluster). The oracle is the single-process
encoding of the same texts.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import pickle
import shutil
import time

import pytest

from conftest import IN_CI, data_path

import fastlm
from fastlm import pipelines

TOKENIZERS = {
    "cl100k": ("tiktoken", "cl100k_base.tiktoken"),
    "gpt2": ("gpt2", "encoder.json"),
    "bert": ("bert-base-uncased", "tokenizer.json"),
    "bert_vocab": ("bert-base-cased", "vocab.txt"),
    "llama2": ("sentencepiece", "llama2_tokenizer.model"),
}
_LOADED: dict = {}


def load(name: str) -> fastlm.Tokenizer:
    if name not in _LOADED:
        _LOADED[name] = fastlm.load(data_path("tokenizers", *TOKENIZERS[name]))
    return _LOADED[name]


def corpus_lines(n: int = 3000) -> list:
    lines = []
    for f in ("en_sherlock_holmes.txt", "ja_wagahaiwa_nekodearu.txt", "code_lodash.js.txt"):
        lines += [ln for ln in data_path("text", f).read_text(encoding="utf-8").split("\n") if ln.strip()][: n // 3]
    return lines


def needs(module: str):
    try:
        return __import__(module)
    except ImportError:
        if IN_CI:
            pytest.fail(f"{module} is a test dependency (pip install fastlm[test])")
        pytest.skip(f"{module} is not installed")


# ------------------------------------------------------------------------------------------------ pickling
@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_pickle_roundtrip_same_ids(name):
    tok = load(name)
    lines = corpus_lines(900)
    want = tok.encode_batch(lines, disallowed_special=())
    pipelines.clear_cache()
    back = pickle.loads(pickle.dumps(tok))
    assert type(back) is type(tok)
    assert back.encode_batch(lines, disallowed_special=()) == want
    assert back.special_tokens == tok.special_tokens and back.name == tok.name
    if tok.post_processor is not None:
        assert back(lines[:50]).ids == tok(lines[:50]).ids


def test_gpt2_pickle_is_self_contained(tmp_path):
    src = data_path("tokenizers", "gpt2")
    for f in ("encoder.json", "vocab.bpe"):
        shutil.copy(src / f, tmp_path / f)
    tok = fastlm.load(tmp_path / "encoder.json")
    text = data_path("text", "en_botchan.txt").read_text(encoding="utf-8")[:50000]
    want = tok.encode(text)
    blob = pickle.dumps(tok)
    assert str(tmp_path).encode() not in blob
    shutil.rmtree(tmp_path)  # a worker on another machine does not have the files
    pipelines.clear_cache()
    back = pickle.loads(blob)
    assert back.encode(text) == want
    assert back.decode(want) == text
    pipelines.clear_cache()
    assert pickle.loads(pickle.dumps(back)).encode(text) == want  # and it pickles again


def test_unpickle_is_cached_and_attributes_travel():
    tok = load("cl100k")
    tok2 = pickle.loads(pickle.dumps(tok))
    tok2.pad_token = "<|endoftext|>"
    pipelines.clear_cache()
    blob = pickle.dumps(tok2)
    t0 = time.perf_counter()
    a = pickle.loads(blob)
    t1 = time.perf_counter()
    b = pickle.loads(blob)
    t2 = time.perf_counter()
    assert a is not b and a._core is b._core  # shared immutable core, separate Python objects
    assert a.pad_token == b.pad_token == "<|endoftext|>"
    b.pad_token = None
    assert a.pad_token == "<|endoftext|>"
    assert (t2 - t1) < (t1 - t0) / 5, (t1 - t0, t2 - t1)
    assert len(blob) < 2 * len(data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken").read_bytes())


def test_copy_does_not_recurse():
    import copy

    tok = load("llama2")
    c = copy.copy(tok)
    d = copy.deepcopy(tok)
    assert c.encode("hello world") == d.encode("hello world") == tok.encode("hello world")


# ------------------------------------------------------------------------------------- process pools
def _encode_chunk(args):
    tok, texts = args
    return tok.encode_batch(texts, num_threads=1, disallowed_special=())


def _encode_with_path(args):
    path, texts = args
    return fastlm.tokenize(texts, path, num_threads=1)


def chunks(lines, k):
    step = (len(lines) + k - 1) // k
    return [lines[i:i + step] for i in range(0, len(lines), step)]


@pytest.mark.parametrize("name", ["cl100k", "bert", "gpt2"])
def test_multiprocessing_pool_spawn(name):
    tok = load(name)
    lines = corpus_lines(1500)
    want = tok.encode_batch(lines, disallowed_special=())
    parts = chunks(lines, 6)
    with mp.get_context("spawn").Pool(2) as pool:
        got = pool.map(_encode_chunk, [(tok, c) for c in parts])
    assert [x for g in got for x in g] == want


def test_multiprocessing_pool_fork_and_path():
    path = data_path("tokenizers", "tiktoken", "cl100k_base.tiktoken")
    tok = load("cl100k")
    lines = corpus_lines(900)
    with mp.get_context("fork").Pool(2) as pool:
        got = pool.map(_encode_with_path, [(str(path), c) for c in chunks(lines, 4)])
    assert [x for g in got for x in g] == tok.encode_batch(lines, disallowed_special=())


def test_concurrent_futures_process_and_thread_pools():
    tok = load("llama2")
    lines = corpus_lines(900)
    want = tok.encode_batch(lines)
    parts = chunks(lines, 4)
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        got = list(ex.map(_encode_chunk, [(tok, c) for c in parts]))
    assert [x for g in got for x in g] == want
    with cf.ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda c: tok.encode_batch(c, num_threads=1), parts))
    assert [x for g in got for x in g] == want


# ------------------------------------------------------------------------------------------- HF datasets
@pytest.fixture(scope="module")
def hf_datasets():
    ds = needs("datasets")
    ds.disable_progress_bars()
    return ds


@pytest.mark.parametrize("name", ["cl100k", "bert"])
def test_datasets_map_num_proc_matches_single_process(hf_datasets, name):
    tok = load(name)
    lines = corpus_lines(3000)
    ds = hf_datasets.Dataset.from_dict({"text": lines})
    fn = fastlm.datasets_map_fn(tok)
    out = ds.map(fn, batched=True, num_proc=2)
    # single process, same function and the plain API
    want = fastlm.tokenize(lines, tok)
    assert out["input_ids"] == want
    assert out["text"] == lines
    assert str(out.features["input_ids"].feature.dtype) == "uint32"
    assert ds.map(fn, batched=True, batch_size=333)["input_ids"] == want
    if name == "bert":
        assert want[0][0] == tok.special_tokens["[CLS]"]  # the post-processor ran


def test_datasets_arrow_format(hf_datasets):
    import pyarrow as pa

    tok = load("cl100k")
    lines = corpus_lines(900)
    ds = hf_datasets.Dataset.from_dict({"text": lines}).with_format("arrow")
    out = ds.map(fastlm.datasets_map_fn(tok, output="ids"), batched=True, num_proc=2)
    table = out.data.table if hasattr(out.data, "table") else out.data
    assert pa.types.is_list(table.schema.field("ids").type)
    assert table.schema.field("ids").type.value_type == pa.uint32()
    assert out.with_format(None)["ids"] == tok.encode_batch(lines, disallowed_special=())


def test_tokenize_batch_errors():
    fn = fastlm.datasets_map_fn(load("cl100k"), column="body")
    with pytest.raises(KeyError, match="body"):
        fn({"text": ["a"]})
    with pytest.raises(TypeError, match="row 1"):
        fastlm.datasets_map_fn(load("cl100k"))({"text": ["a", None]})
    with pytest.raises(TypeError):
        fastlm.datasets_map_fn(42)  # type: ignore[arg-type]
    assert fastlm.datasets_map_fn(load("cl100k"))({"text": []}) == {"input_ids": []}
