"""SentencePiece `.model` files (Unigram and BPE): load, save, and the SentencePiece tokenizer.

The protobuf is parsed in C++ (`_core.SpModelProto`); this module holds the options and messages.
`SentencePieceTokenizer` is a `Tokenizer` with sentencepiece's extras: subword sampling
(`encode(text, sample=True, alpha=..., nbest_size=..., seed=...)`), `nbest`, and piece <-> id helpers.
"""
from __future__ import annotations

import math
import os
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, cast

from .. import _core
from .._io import atomic_write_bytes
from ..tokenizer import SpecialSet, Tokenizer, _fix_surrogates

# Piece types (sentencepiece_model.proto).
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
TYPE_NAMES = {NORMAL: "normal", UNKNOWN: "unknown", CONTROL: "control", USER_DEFINED: "user_defined",
              UNUSED: "unused", BYTE: "byte"}
# TrainerSpec / NormalizerSpec field numbers.
T_MODEL_TYPE, T_VOCAB_SIZE, T_BYTE_FALLBACK, T_TREAT_WS_SUFFIX = 3, 4, 35, 24
N_NAME, N_CHARSMAP, N_ADD_DUMMY_PREFIX, N_REMOVE_EXTRA_WS, N_ESCAPE_WS = 1, 2, 3, 4, 5


def _repair(text: Any) -> Any:
    """Lone surrogates become U+FFFD (the rule of Tokenizer.encode), so every method accepts what encode accepts."""
    if isinstance(text, str):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return _fix_surrogates(text)
    return text


class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model (Unigram or BPE) with the Tokenizer API. Control pieces (<s>, </s>) are not parsed
    from text, as in sentencepiece; user-defined pieces are matched inside the model."""

    _proto: "_core.SpModelProto"

    @property
    def proto(self) -> "_core.SpModelProto":
        return self._proto

    @property
    def _enc(self) -> "_core.SpEncoder":
        return cast("_core.SpEncoder", self._core.encoder)

    def encode(
        self,
        text: str,
        *,
        allowed_special: SpecialSet = frozenset(),
        disallowed_special: SpecialSet = "all",
        sample: bool = False,
        alpha: float = 0.1,
        nbest_size: int = -1,
        seed: Optional[int] = None,
    ) -> List[int]:
        """Encode text to ids (no BOS/EOS). With sample=True, draw one segmentation (subword regularization):
        nbest_size=-1 samples over all segmentations with p ~ exp(alpha * score) (forward-filtering
        backward-sampling); nbest_size > 1 samples among the n best. `seed` makes it reproducible."""
        if not sample:
            return super().encode(text, allowed_special=allowed_special, disallowed_special=disallowed_special)
        ids, _ = self._sample(text, alpha, nbest_size, seed, False)
        return cast(List[int], ids)

    def encode_with_offsets(self, text: str, *, sample: bool = False, alpha: float = 0.1, nbest_size: int = -1,
                            seed: Optional[int] = None) -> Tuple[List[int], List[Tuple[int, int]]]:
        """(ids, [(start, end)]) with offsets in code points of `text` (bytes for bytes input)."""
        if sample:
            sids, soffs = self._sample(text, alpha, nbest_size, seed, True)
            return cast(List[int], sids), cast(List[Tuple[int, int]], soffs)
        ids, starts, ends = self._core.encode_with_offsets(_repair(text))
        return ids.tolist(), list(zip(starts.tolist(), ends.tolist()))

    def _sample(self, text: Any, alpha: float, nbest_size: int, seed: Optional[int], offsets: bool) -> Tuple[Any, ...]:
        if self._enc.is_bpe:
            raise ValueError("sampling is implemented for Unigram models; this is a SentencePiece BPE model "
                             "(BPE-dropout is not supported)")
        if not isinstance(nbest_size, int) or nbest_size == 0 or nbest_size < -1:
            raise ValueError(f"nbest_size must be -1 (sample over all segmentations) or >= 1, not {nbest_size!r}")
        alpha = float(alpha)
        if not alpha >= 0.0:
            raise ValueError(f"alpha must be >= 0, not {alpha!r}")
        if seed is None:
            seed = random.getrandbits(63)
        if not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int or None, not {seed!r}")
        return tuple(self._enc.encode_sample(_repair(text), nbest_size, alpha, seed & (2**64 - 1), offsets))

    def sample_many(self, text: str, count: int, *, alpha: float = 0.1, nbest_size: int = -1,
                    seed: int = 0) -> List[List[int]]:
        """`count` independent samples from one seeded generator (faster than calling encode in a loop)."""
        self._sample("", alpha, nbest_size, seed, False)  # validates the options
        return self._enc.sample_many(_repair(text), nbest_size, float(alpha), seed, int(count))

    def nbest(self, text: str, n: int, *, with_scores: bool = False) -> List[Any]:
        """The n best segmentations (ids), best first; with_scores=True gives (ids, score) pairs.
        Same results as sentencepiece's nbest_encode (n is capped at 1024). BPE models have one segmentation."""
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive int, not {n!r}")
        if self._enc.is_bpe:
            raise ValueError("nbest is defined for Unigram models; this is a SentencePiece BPE model")
        res = self._enc.nbest(_repair(text), n)
        return [(list(ids), float(s)) for ids, s in res] if with_scores else [list(ids) for ids, _ in res]

    def normalize(self, text: str) -> str:
        """The normalized text the model segments (with the U+2581 whitespace escape)."""
        return bytes(self._enc.normalize(_repair(text))).decode("utf-8", "replace")

    # ---------------------------------------------------------------- pieces
    def id_to_piece(self, id: int) -> str:
        b = self._core.token_bytes(int(id))
        if b is None:
            raise IndexError(f"piece id {id} out of range (the model has {self.n_vocab} pieces)")
        return bytes(b).decode("utf-8", "replace")

    def piece_to_id(self, piece: str) -> int:
        """The piece's id, or the unknown id if absent (as sentencepiece)."""
        i = self._core.token_to_id(piece)
        return int(self._enc.unk_id) if i is None else int(i)

    def encode_as_pieces(self, text: str) -> List[str]:
        return [self.id_to_piece(i) for i in self.encode(text)]

    def piece_type(self, id: int) -> str:
        return TYPE_NAMES[self._enc.piece_type(int(id))]

    def get_score(self, id: int) -> float:
        return float(self._enc.piece_score(int(id)))

    @property
    def unk_id(self) -> int:
        return int(self._enc.unk_id)

    def _control_id(self, field: int, default: int) -> Optional[int]:
        i = int(self._proto.get_int("trainer", field, default))
        return i if 0 <= i < self.n_vocab else None

    @property
    def bos_id(self) -> Optional[int]:
        return self._control_id(41, 1)

    @property
    def eos_id(self) -> Optional[int]:
        return self._control_id(42, 2)

    @property
    def pad_id(self) -> Optional[int]:
        return self._control_id(43, -1)

    # ---------------------------------------------------------------- persistence
    def serialize_model(self) -> bytes:
        return bytes(self._proto.serialize())

    def save(self, path: Union[str, os.PathLike[str]]) -> None:
        """`*.model` writes the SentencePiece protobuf; anything else writes HF tokenizer.json (atomically)."""
        if os.fspath(path).endswith(".model"):
            atomic_write_bytes(path, self.serialize_model())
            return
        super().save(path)

    def _state_for_pickle(self) -> Dict[str, Any]:
        return {"kind": "unigram", "model_bytes": self.serialize_model(), "name": self.name}


def from_proto(proto: "_core.SpModelProto", *, name: str = "") -> SentencePieceTokenizer:
    for i, (piece, score, _kind) in enumerate(proto.pieces):
        if not math.isfinite(score):  # what sentencepiece refuses too: the segmentation would be meaningless
            raise ValueError(f"piece {i} ({bytes(piece).decode('utf-8', 'replace')!r}) has score {score}: "
                             "scores must be finite")
    enc = _core.SpEncoder(proto)
    core = _core.Tokenizer(enc, [])
    tok = SentencePieceTokenizer(core, name=name, state={"kind": "unigram"})
    tok._proto = proto
    return tok


def from_bytes(data: bytes, *, source: str = "<bytes>", name: str = "") -> SentencePieceTokenizer:
    """Build from the bytes of a .model file. Malformed data raises ValueError naming the byte offset."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"expected the bytes of a .model file, not {type(data).__name__}")
    proto = _core.SpModelProto.parse(bytes(data), source)
    try:
        return from_proto(proto, name=name)
    except ValueError as e:
        raise ValueError(f"{source}: {e}") from None


def load_sentencepiece(path: Union[str, os.PathLike[str]], **options: Any) -> SentencePieceTokenizer:
    """Load a SentencePiece .model file (Unigram or BPE)."""
    if options:
        raise TypeError(f"unexpected option(s) for a SentencePiece .model: {', '.join(sorted(options))}")
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise OSError(f"cannot read SentencePiece model {str(p)!r}: {e.strerror}") from None
    return from_bytes(data, source=str(p), name=p.stem)


def rebuild(state: Dict[str, Any]) -> SentencePieceTokenizer:
    return from_bytes(state["model_bytes"], source="<pickle>", name=state.get("name", ""))


def build_proto(pieces: Sequence[Tuple[str, float, int]], *, model_type: str = "unigram",
                byte_fallback: bool = False, precompiled_charsmap: bytes = b"", normalizer_name: str = "identity",
                add_dummy_prefix: bool = True, remove_extra_whitespaces: bool = True,
                escape_whitespaces: bool = True, trainer_fields: Optional[Dict[int, Any]] = None) -> "_core.SpModelProto":
    """Assemble a ModelProto from (piece, score, type) triples and the normalizer options."""
    proto = _core.SpModelProto()
    proto.pieces = [(p.encode("utf-8") if isinstance(p, str) else bytes(p), float(s), int(t)) for p, s, t in pieces]
    proto.set_int("trainer", T_MODEL_TYPE, {"unigram": 1, "bpe": 2}[model_type])
    proto.set_int("trainer", T_VOCAB_SIZE, len(pieces))
    proto.set_bool("trainer", T_BYTE_FALLBACK, bool(byte_fallback))
    for num, val in (trainer_fields or {}).items():
        if isinstance(val, bool):
            proto.set_bool("trainer", num, val)
        elif isinstance(val, int):
            proto.set_int("trainer", num, val)
        elif isinstance(val, float):
            proto.set_float("trainer", num, val)
        elif isinstance(val, (list, tuple)):
            proto.erase("trainer", num)
            for v in val:
                proto.add_bytes("trainer", num, v.encode("utf-8"))
        else:
            proto.set_bytes("trainer", num, val.encode("utf-8") if isinstance(val, str) else bytes(val))
    proto.set_bytes("normalizer", N_NAME, normalizer_name.encode("utf-8"))
    if precompiled_charsmap:
        proto.set_bytes("normalizer", N_CHARSMAP, bytes(precompiled_charsmap))
    proto.set_bool("normalizer", N_ADD_DUMMY_PREFIX, add_dummy_prefix)
    proto.set_bool("normalizer", N_REMOVE_EXTRA_WS, remove_extra_whitespaces)
    proto.set_bool("normalizer", N_ESCAPE_WS, escape_whitespaces)
    return proto
