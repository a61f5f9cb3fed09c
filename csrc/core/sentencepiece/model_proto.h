// SentencePiece ModelProto: a small protobuf wire-format reader and writer (no protobuf dependency).
//
// Layout (sentencepiece_model.proto, proto2):
//   ModelProto      1: repeated SentencePiece pieces   2: TrainerSpec   3: NormalizerSpec   5: denormalizer NormalizerSpec
//   SentencePiece   1: piece (bytes)  2: score (float)  3: type (enum, default NORMAL)
// Pieces are decoded into structs; the spec messages are kept as generic field lists with typed getters/setters, so
// fields this code does not know (newer sentencepiece versions) survive a load -> save round trip unchanged.
// Malformed input raises ValueError naming the absolute byte offset; nothing here can read out of bounds.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fastlm {
namespace sp {

enum PieceType : int { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

struct Piece {
  std::string piece;
  float score = 0.0f;
  int type = kNormal;
  // Which optional fields were present (bit 0 score, bit 1 type), so a parsed model serializes back byte for byte.
  // Built pieces write the score always and the type when it is not NORMAL.
  uint8_t present = 1;
};

// One protobuf field. wire: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32. `num` holds varint/fixed values.
struct Field {
  uint32_t number = 0;
  uint8_t wire = 0;
  uint64_t num = 0;
  std::string bytes;
};

class Message {
 public:
  std::vector<Field> fields;

  const Field* find(uint32_t number) const;  // last occurrence wins (protobuf merge semantics)
  bool has(uint32_t number) const { return find(number) != nullptr; }
  bool get_bool(uint32_t number, bool def) const;
  int64_t get_int(uint32_t number, int64_t def) const;
  float get_float(uint32_t number, float def) const;
  std::string get_string(uint32_t number, const std::string& def) const;
  std::vector<std::string> get_strings(uint32_t number) const;  // repeated string

  void erase(uint32_t number);
  void set_bool(uint32_t number, bool v) { set_varint(number, v ? 1 : 0); }
  void set_int(uint32_t number, int64_t v) { set_varint(number, static_cast<uint64_t>(v)); }
  void set_float(uint32_t number, float v);
  void set_string(uint32_t number, std::string v);
  void add_string(uint32_t number, std::string v);  // repeated

 private:
  void set_varint(uint32_t number, uint64_t v);
};

// Field numbers used by the encoder and the trainer.
namespace trainer {
constexpr uint32_t kModelType = 3, kVocabSize = 4, kCharacterCoverage = 10, kMaxPieceLength = 20,
                   kSplitByWhitespace = 22, kTreatWhitespaceAsSuffix = 24, kByteFallback = 35, kUnkSurface = 44,
                   kUnkId = 40, kBosId = 41, kEosId = 42, kPadId = 43, kUnkPiece = 45, kBosPiece = 46,
                   kEosPiece = 47, kPadPiece = 48, kUserDefinedSymbols = 31, kControlSymbols = 30,
                   kNumThreads = 16, kSeedPieceSize = 14, kShrinkingFactor = 15, kNumSubIterations = 17;
constexpr int kUnigram = 1, kBpe = 2, kWord = 3, kChar = 4;
}  // namespace trainer
namespace normalizer {
constexpr uint32_t kName = 1, kPrecompiledCharsmap = 2, kAddDummyPrefix = 3, kRemoveExtraWhitespaces = 4,
                   kEscapeWhitespaces = 5, kRuleTsv = 6;
}  // namespace normalizer

struct ModelProto {
  std::vector<Piece> pieces;
  Message trainer_spec;
  Message normalizer_spec;
  Message denormalizer_spec;
  bool has_trainer_spec = false, has_normalizer_spec = false, has_denormalizer_spec = false;
  std::vector<Field> other;  // unknown top-level fields (e.g. self_test_data), written back verbatim
};

// Parses a serialized ModelProto. `source` names the input in error messages.
ModelProto parse_model_proto(std::string_view data, const std::string& source = "<model>");
std::string serialize_model_proto(const ModelProto& m);

}  // namespace sp
}  // namespace fastlm
