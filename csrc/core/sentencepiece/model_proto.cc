// Protobuf wire-format reader/writer for SentencePiece ModelProto (see model_proto.h).
#include "core/sentencepiece/model_proto.h"

#include <cstring>

#include "core/error.h"

namespace fastlm {
namespace sp {

namespace {

class Reader {
 public:
  Reader(std::string_view data, size_t base, const std::string& source) : d_(data), base_(base), src_(source) {}
  bool done() const { return pos_ >= d_.size(); }
  size_t offset() const { return base_ + pos_; }

  [[noreturn]] void fail(const std::string& what, size_t at) const {
    throw ValueError(src_ + ": not a valid SentencePiece model (" + what + " at byte " + std::to_string(at) +
                     "); the file is truncated or corrupted, or is not a .model file");
  }

  uint64_t varint() {
    size_t start = offset();
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos_ >= d_.size()) fail("truncated varint", start);
      uint8_t c = static_cast<uint8_t>(d_[pos_++]);
      if (shift == 63 && (c & 0x7E)) fail("varint overflows 64 bits", start);
      v |= uint64_t(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    fail("varint longer than 10 bytes", start);
  }
  uint64_t fixed(int n) {
    if (d_.size() - pos_ < size_t(n)) fail("truncated fixed-width value", offset());
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(d_[pos_ + size_t(i)]);
    pos_ += size_t(n);
    return v;
  }
  std::string_view bytes(size_t& at) {
    size_t start = offset();
    uint64_t n = varint();
    if (n > d_.size() - pos_)
      fail("length " + std::to_string(n) + " runs past the end (" + std::to_string(d_.size() - pos_) + " bytes left)",
           start);
    at = offset();
    std::string_view v = d_.substr(pos_, size_t(n));
    pos_ += size_t(n);
    return v;
  }
  // Reads one field header + value into f; `at` receives the offset of a length-delimited payload.
  void field(Field& f, size_t& at) {
    size_t start = offset();
    uint64_t key = varint();
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint8_t>(key & 7);
    if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF) fail("invalid field number", start);
    f.bytes.clear();
    f.num = 0;
    at = offset();
    switch (f.wire) {
      case 0: f.num = varint(); break;
      case 1: f.num = fixed(8); break;
      case 5: f.num = fixed(4); break;
      case 2: f.bytes = std::string(bytes(at)); break;
      default: fail("unsupported wire type " + std::to_string(f.wire), start);
    }
  }

 private:
  std::string_view d_;
  size_t pos_ = 0;
  size_t base_;
  const std::string& src_;
};

Message parse_message(std::string_view data, size_t base, const std::string& source) {
  Reader r(data, base, source);
  Message m;
  while (!r.done()) {
    Field f;
    size_t at;
    r.field(f, at);
    m.fields.push_back(std::move(f));
  }
  return m;
}

Piece parse_piece(std::string_view data, size_t base, const std::string& source) {
  Reader r(data, base, source);
  Piece p;
  p.present = 0;
  while (!r.done()) {
    Field f;
    size_t at;
    size_t start = r.offset();
    r.field(f, at);
    auto want = [&](uint8_t w, const char* name) {
      if (f.wire != w) r.fail(std::string("field '") + name + "' has wire type " + std::to_string(f.wire), start);
    };
    if (f.number == 1) {
      want(2, "piece");
      p.piece = std::move(f.bytes);
    } else if (f.number == 2) {
      want(5, "score");
      uint32_t bits = static_cast<uint32_t>(f.num);
      std::memcpy(&p.score, &bits, 4);
      p.present |= 1;
    } else if (f.number == 3) {
      want(0, "type");
      p.present |= 2;
      // proto2: an enum value outside the declared set is kept as an unknown field; the field keeps its default.
      if (f.num >= 1 && f.num <= 6) p.type = static_cast<int>(f.num);
    }
  }
  return p;
}

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_key(std::string& out, uint32_t number, uint8_t wire) { put_varint(out, (uint64_t(number) << 3) | wire); }

void put_field(std::string& out, const Field& f) {
  put_key(out, f.number, f.wire);
  switch (f.wire) {
    case 0: put_varint(out, f.num); break;
    case 1:
      for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((f.num >> (8 * i)) & 0xFF));
      break;
    case 5:
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((f.num >> (8 * i)) & 0xFF));
      break;
    default:
      put_varint(out, f.bytes.size());
      out += f.bytes;
  }
}

std::string serialize_message(const Message& m) {
  std::string out;
  for (const auto& f : m.fields) put_field(out, f);
  return out;
}

void put_bytes(std::string& out, uint32_t number, const std::string& payload) {
  put_key(out, number, 2);
  put_varint(out, payload.size());
  out += payload;
}

}  // namespace

const Field* Message::find(uint32_t number) const {
  for (size_t i = fields.size(); i-- > 0;)
    if (fields[i].number == number) return &fields[i];
  return nullptr;
}

bool Message::get_bool(uint32_t number, bool def) const {
  const Field* f = find(number);
  return (f && f->wire == 0) ? f->num != 0 : def;
}

int64_t Message::get_int(uint32_t number, int64_t def) const {
  const Field* f = find(number);
  // int32 fields are sign-extended varints: truncate to 32 bits as protobuf does.
  return (f && f->wire == 0) ? static_cast<int64_t>(static_cast<int32_t>(static_cast<uint32_t>(f->num))) : def;
}

float Message::get_float(uint32_t number, float def) const {
  const Field* f = find(number);
  if (!f || f->wire != 5) return def;
  uint32_t bits = static_cast<uint32_t>(f->num);
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

std::string Message::get_string(uint32_t number, const std::string& def) const {
  const Field* f = find(number);
  return (f && f->wire == 2) ? f->bytes : def;
}

std::vector<std::string> Message::get_strings(uint32_t number) const {
  std::vector<std::string> v;
  for (const auto& f : fields)
    if (f.number == number && f.wire == 2) v.push_back(f.bytes);
  return v;
}

void Message::erase(uint32_t number) {
  std::vector<Field> kept;
  for (auto& f : fields)
    if (f.number != number) kept.push_back(std::move(f));
  fields.swap(kept);
}

void Message::set_varint(uint32_t number, uint64_t v) {
  erase(number);
  Field f;
  f.number = number;
  f.wire = 0;
  f.num = v;
  fields.push_back(std::move(f));
}

void Message::set_float(uint32_t number, float v) {
  erase(number);
  Field f;
  f.number = number;
  f.wire = 5;
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  f.num = bits;
  fields.push_back(std::move(f));
}

void Message::set_string(uint32_t number, std::string v) {
  erase(number);
  add_string(number, std::move(v));
}

void Message::add_string(uint32_t number, std::string v) {
  Field f;
  f.number = number;
  f.wire = 2;
  f.bytes = std::move(v);
  fields.push_back(std::move(f));
}

ModelProto parse_model_proto(std::string_view data, const std::string& source) {
  if (data.empty()) throw ValueError(source + ": empty file, not a SentencePiece model");
  Reader r(data, 0, source);
  ModelProto m;
  while (!r.done()) {
    Field f;
    size_t at;
    size_t start = r.offset();
    r.field(f, at);
    bool sub = f.number == 1 || f.number == 2 || f.number == 3 || f.number == 5;
    if (sub && f.wire != 2)
      r.fail("ModelProto field " + std::to_string(f.number) + " has wire type " + std::to_string(f.wire), start);
    switch (f.number) {
      case 1: m.pieces.push_back(parse_piece(f.bytes, at, source)); break;
      case 2: {
        Message t = parse_message(f.bytes, at, source);
        // Repeated occurrences of a sub-message merge (protobuf semantics).
        for (auto& x : t.fields) m.trainer_spec.fields.push_back(std::move(x));
        m.has_trainer_spec = true;
        break;
      }
      case 3: {
        Message t = parse_message(f.bytes, at, source);
        for (auto& x : t.fields) m.normalizer_spec.fields.push_back(std::move(x));
        m.has_normalizer_spec = true;
        break;
      }
      case 5: {
        Message t = parse_message(f.bytes, at, source);
        for (auto& x : t.fields) m.denormalizer_spec.fields.push_back(std::move(x));
        m.has_denormalizer_spec = true;
        break;
      }
      default: m.other.push_back(std::move(f));
    }
  }
  return m;
}

std::string serialize_model_proto(const ModelProto& m) {
  std::string out;
  std::string tmp;
  for (const auto& p : m.pieces) {
    tmp.clear();
    put_key(tmp, 1, 2);
    put_varint(tmp, p.piece.size());
    tmp += p.piece;
    uint32_t bits;
    std::memcpy(&bits, &p.score, 4);
    Field sf;
    sf.number = 2;
    sf.wire = 5;
    sf.num = bits;
    if (p.present & 1) put_field(tmp, sf);
    if ((p.present & 2) || p.type != kNormal) {
      put_key(tmp, 3, 0);
      put_varint(tmp, static_cast<uint64_t>(p.type));
    }
    put_bytes(out, 1, tmp);
  }
  if (m.has_trainer_spec) put_bytes(out, 2, serialize_message(m.trainer_spec));
  if (m.has_normalizer_spec) put_bytes(out, 3, serialize_message(m.normalizer_spec));
  for (const auto& f : m.other)
    if (f.number == 4) put_field(out, f);
  if (m.has_denormalizer_spec) put_bytes(out, 5, serialize_message(m.denormalizer_spec));
  for (const auto& f : m.other)
    if (f.number != 4) put_field(out, f);
  return out;
}

}  // namespace sp
}  // namespace fastlm
