//===- Pickle.cpp - A pickle reader that runs nothing ---------------------===//
//
// A stack machine over the opcodes of pickletools' table. Every read is
// bounds-checked, every pop checks the stack, and the memo is a map, so a
// corrupt stream is an error at the byte where it goes wrong.
//
//===----------------------------------------------------------------------===//

#include "runtime/Pickle.h"

#include <cstdio>
#include <cstring>
#include <optional>
#include <unordered_map>

using namespace llamac::runtime;

std::string PickleValue::describe() const {
  switch (kind) {
  case Kind::None:
    return "None";
  case Kind::Bool:
    return boolean ? "True" : "False";
  case Kind::Int:
    return "an int " + std::to_string(integer);
  case Kind::Float:
    return "a float " + std::to_string(number);
  case Kind::String:
    return "a string \"" + text + "\"";
  case Kind::Bytes:
    return "a bytes object of length " + std::to_string(text.size());
  case Kind::Tuple:
    return "a tuple of " + std::to_string(items.size());
  case Kind::List:
    return "a list of " + std::to_string(items.size());
  case Kind::Dict:
    return "a dict of " + std::to_string(items.size() / 2);
  case Kind::Global:
    return "the global " + text;
  case Kind::PersistentId:
    return "a persistent id";
  case Kind::Call:
    return "a call of " + items[0]->describe();
  }
  return "a value";
}

namespace {

class PickleReader {
public:
  PickleReader(const uint8_t *bytes, size_t size, const std::string &origin,
               const PickleGlobalFilter &allowGlobal)
      : bytes(bytes), size(size), origin(origin), allowGlobal(allowGlobal) {}

  StatusOr<Pickle> run();

private:
  PickleRef makeValue(PickleValue::Kind kind) {
    values.push_back(std::make_unique<PickleValue>());
    values.back()->kind = kind;
    return values.back().get();
  }
  Status error(const std::string &reason) const {
    return Status::error(origin + ": byte " + std::to_string(opcodeAt) + ": " +
                         reason);
  }
  /// The next `count` bytes, or nullptr past the end.
  const uint8_t *take(size_t count) {
    if (count > size - at)
      return nullptr;
    const uint8_t *start = bytes + at;
    at += count;
    return start;
  }
  std::optional<uint64_t> takeUnsigned(size_t count) {
    const uint8_t *p = take(count);
    if (!p)
      return std::nullopt;
    uint64_t value = 0;
    for (size_t i = 0; i < count; ++i)
      value |= uint64_t(p[i]) << (8 * i);
    return value;
  }
  /// A text line ending in '\n', as GLOBAL's operands are.
  std::optional<std::string> takeLine() {
    const void *newline = std::memchr(bytes + at, '\n', size - at);
    if (!newline)
      return std::nullopt;
    size_t end = static_cast<const uint8_t *>(newline) - bytes;
    std::string line(reinterpret_cast<const char *>(bytes + at), end - at);
    at = end + 1;
    return line;
  }

  Status push(PickleRef value) {
    stack.push_back(std::move(value));
    return Status::success();
  }
  StatusOr<PickleRef> pop() {
    if (stack.size() <= floor())
      return error("the stack is empty");
    PickleRef value = std::move(stack.back());
    stack.pop_back();
    return value;
  }
  /// Where the innermost MARK left the stack: pops do not cross it.
  size_t floor() const { return marks.empty() ? 0 : marks.back(); }
  /// Pops everything down to the innermost MARK, and the mark.
  StatusOr<std::vector<PickleRef>> popToMark() {
    if (marks.empty())
      return error("no MARK to pop to");
    std::vector<PickleRef> items(stack.begin() + marks.back(), stack.end());
    stack.resize(marks.back());
    marks.pop_back();
    return items;
  }
  PickleRef *top() { return stack.size() > floor() ? &stack.back() : nullptr; }

  Status pushInt(int64_t value) {
    PickleRef result = makeValue(PickleValue::Kind::Int);
    result->integer = value;
    return push(std::move(result));
  }
  Status pushText(PickleValue::Kind kind, size_t length) {
    const uint8_t *p = take(length);
    if (!p)
      return error("truncated string");
    PickleRef result = makeValue(kind);
    result->text.assign(reinterpret_cast<const char *>(p), length);
    return push(std::move(result));
  }
  Status pushTextWithLength(PickleValue::Kind kind, size_t lengthBytes) {
    std::optional<uint64_t> length = takeUnsigned(lengthBytes);
    if (!length)
      return error("truncated string length");
    return pushText(kind, *length);
  }
  Status pushLong(size_t lengthBytes) {
    std::optional<uint64_t> length = takeUnsigned(lengthBytes);
    if (!length)
      return error("truncated integer");
    if (*length > 8)
      return error("an integer of " + std::to_string(*length) +
                   " bytes, beyond 64 bits");
    std::optional<uint64_t> raw = takeUnsigned(*length);
    if (!raw)
      return error("truncated integer");
    uint64_t value = *raw;
    // Two's complement over `length` bytes.
    if (*length > 0 && *length < 8 && (value >> (8 * *length - 1)) & 1)
      value |= ~uint64_t(0) << (8 * *length);
    return pushInt(int64_t(value));
  }
  Status pushSequence(PickleValue::Kind kind, std::vector<PickleRef> items) {
    PickleRef result = makeValue(kind);
    result->items = std::move(items);
    return push(std::move(result));
  }
  Status pushTupleOf(size_t count) {
    if (stack.size() < floor() + count)
      return error("a tuple of " + std::to_string(count) +
                   " needs that many values on the stack");
    std::vector<PickleRef> items(stack.end() - count, stack.end());
    stack.resize(stack.size() - count);
    return pushSequence(PickleValue::Kind::Tuple, std::move(items));
  }
  Status pushGlobal(std::string module, std::string name) {
    std::string qualified = module + "." + name;
    if (!allowGlobal(qualified))
      return error("refers to " + qualified +
                   ", which a checkpoint of tensors has no need of; llamac "
                   "runs no code from pickles");
    PickleRef result = makeValue(PickleValue::Kind::Global);
    result->text = std::move(qualified);
    return push(std::move(result));
  }
  Status memoize(uint64_t index) {
    if (stack.size() <= floor())
      return error("nothing on the stack to memoize");
    memo[index] = stack.back();
    return Status::success();
  }
  Status recall(uint64_t index) {
    auto found = memo.find(index);
    if (found == memo.end())
      return error("memo entry " + std::to_string(index) + " was never set");
    return push(found->second);
  }
  Status setItems(PickleValue &dict, std::vector<PickleRef> pairs) {
    if (dict.kind != PickleValue::Kind::Dict)
      return error("setting items of " + dict.describe() + ", not a dict");
    if (pairs.size() % 2)
      return error("an odd number of keys and values");
    for (PickleRef &item : pairs)
      dict.items.push_back(std::move(item));
    return Status::success();
  }
  Status appendItems(PickleValue &list, std::vector<PickleRef> values) {
    if (list.kind != PickleValue::Kind::List)
      return error("appending to a " + list.describe() + ", not a list");
    for (PickleRef &item : values)
      list.items.push_back(std::move(item));
    return Status::success();
  }
  Status reduce();
  Status build();
  Status step(uint8_t opcode);

  const uint8_t *bytes;
  size_t size;
  size_t at = 0;
  size_t opcodeAt = 0;
  const std::string &origin;
  const PickleGlobalFilter &allowGlobal;
  std::vector<PickleRef> stack;
  std::vector<size_t> marks;
  std::unordered_map<uint64_t, PickleRef> memo;
  std::vector<std::unique_ptr<PickleValue>> values;
  bool stopped = false;
};

Status PickleReader::reduce() {
  StatusOr<PickleRef> arguments = pop();
  if (!arguments.ok())
    return arguments.status();
  StatusOr<PickleRef> callable = pop();
  if (!callable.ok())
    return callable.status();
  if ((*arguments)->kind != PickleValue::Kind::Tuple)
    return error("REDUCE's arguments are " + (*arguments)->describe() +
                 ", not a tuple");
  if ((*callable)->kind != PickleValue::Kind::Global)
    return error("REDUCE calls " + (*callable)->describe() + ", not a global");
  // OrderedDict() is filled by SETITEMS after it is made, so it must be a
  // dict now; every other call is left for the caller to interpret.
  if ((*callable)->isGlobal("collections.OrderedDict")) {
    if (!(*arguments)->items.empty())
      return error("collections.OrderedDict called with arguments");
    return push(makeValue(PickleValue::Kind::Dict));
  }
  return pushSequence(PickleValue::Kind::Call,
                      {std::move(*callable), std::move(*arguments)});
}

Status PickleReader::build() {
  StatusOr<PickleRef> state = pop();
  if (!state.ok())
    return state.status();
  PickleRef *object = top();
  if (!object)
    return error("BUILD with nothing to build");
  switch ((*object)->kind) {
  case PickleValue::Kind::Call:
    (*object)->items.push_back(std::move(*state));
    return Status::success();
  case PickleValue::Kind::Dict:
    // An OrderedDict's attributes, such as a state dict's _metadata (module
    // versions): not items, and of no use here.
    return Status::success();
  default:
    return error("BUILD on " + (*object)->describe());
  }
}

Status PickleReader::step(uint8_t opcode) {
  using Kind = PickleValue::Kind;
  switch (opcode) {
  case 0x80: { // PROTO
    std::optional<uint64_t> version = takeUnsigned(1);
    if (!version)
      return error("truncated PROTO");
    if (*version < 2 || *version > 5)
      return error("pickle protocol " + std::to_string(*version) +
                   "; torch.save writes protocols 2 to 5");
    return Status::success();
  }
  case 0x95: // FRAME: a length prefix of what follows, which needs nothing.
    return takeUnsigned(8) ? Status::success() : error("truncated FRAME");
  case '.': // STOP
    stopped = true;
    return Status::success();
  case '(': // MARK
    marks.push_back(stack.size());
    return Status::success();
  case '0': // POP
    return pop().status();
  case '1': // POP_MARK
    return popToMark().status();
  case '2': { // DUP
    PickleRef *value = top();
    return value ? push(*value) : error("DUP with an empty stack");
  }
  case 'N':
    return push(makeValue(Kind::None));
  case 0x88:   // NEWTRUE
  case 0x89: { // NEWFALSE
    PickleRef value = makeValue(Kind::Bool);
    value->boolean = opcode == 0x88;
    return push(std::move(value));
  }
  case 'K':   // BININT1
  case 'M': { // BININT2
    std::optional<uint64_t> value = takeUnsigned(opcode == 'K' ? 1 : 2);
    return value ? pushInt(int64_t(*value)) : error("truncated integer");
  }
  case 'J': { // BININT
    std::optional<uint64_t> value = takeUnsigned(4);
    return value ? pushInt(int32_t(uint32_t(*value)))
                 : error("truncated integer");
  }
  case 0x8a: // LONG1
    return pushLong(1);
  case 0x8b: // LONG4
    return pushLong(4);
  case 'G': { // BINFLOAT: big-endian IEEE double.
    const uint8_t *p = take(8);
    if (!p)
      return error("truncated float");
    uint64_t raw = 0;
    for (int i = 0; i < 8; ++i)
      raw = raw << 8 | p[i];
    PickleRef value = makeValue(Kind::Float);
    std::memcpy(&value->number, &raw, 8);
    return push(std::move(value));
  }
  case 'X': // BINUNICODE
    return pushTextWithLength(Kind::String, 4);
  case 0x8c: // SHORT_BINUNICODE
    return pushTextWithLength(Kind::String, 1);
  case 0x8d: // BINUNICODE8
    return pushTextWithLength(Kind::String, 8);
  case 'T': // BINSTRING
    return pushTextWithLength(Kind::String, 4);
  case 'U': // SHORT_BINSTRING
    return pushTextWithLength(Kind::String, 1);
  case 'B': // BINBYTES
    return pushTextWithLength(Kind::Bytes, 4);
  case 'C': // SHORT_BINBYTES
    return pushTextWithLength(Kind::Bytes, 1);
  case 0x8e: // BINBYTES8
    return pushTextWithLength(Kind::Bytes, 8);
  case ')': // EMPTY_TUPLE
    return pushSequence(Kind::Tuple, {});
  case 0x85: // TUPLE1
  case 0x86: // TUPLE2
  case 0x87: // TUPLE3
    return pushTupleOf(opcode - 0x84);
  case 't': { // TUPLE
    StatusOr<std::vector<PickleRef>> items = popToMark();
    return items.ok() ? pushSequence(Kind::Tuple, std::move(*items))
                      : items.status();
  }
  case ']': // EMPTY_LIST
    return pushSequence(Kind::List, {});
  case 'l': { // LIST
    StatusOr<std::vector<PickleRef>> items = popToMark();
    return items.ok() ? pushSequence(Kind::List, std::move(*items))
                      : items.status();
  }
  case '}': // EMPTY_DICT
    return push(makeValue(Kind::Dict));
  case 'd': { // DICT
    StatusOr<std::vector<PickleRef>> items = popToMark();
    if (!items.ok())
      return items.status();
    PickleRef dict = makeValue(Kind::Dict);
    Status status = setItems(*dict, std::move(*items));
    return status.ok() ? push(std::move(dict)) : status;
  }
  case 's': { // SETITEM
    StatusOr<PickleRef> value = pop();
    if (!value.ok())
      return value.status();
    StatusOr<PickleRef> key = pop();
    if (!key.ok())
      return key.status();
    PickleRef *dict = top();
    if (!dict)
      return error("SETITEM with no dict");
    return setItems(**dict, {std::move(*key), std::move(*value)});
  }
  case 'u': { // SETITEMS
    StatusOr<std::vector<PickleRef>> items = popToMark();
    if (!items.ok())
      return items.status();
    PickleRef *dict = top();
    return dict ? setItems(**dict, std::move(*items))
                : error("SETITEMS with no dict");
  }
  case 'a': { // APPEND
    StatusOr<PickleRef> value = pop();
    if (!value.ok())
      return value.status();
    PickleRef *list = top();
    return list ? appendItems(**list, {std::move(*value)})
                : error("APPEND with no list");
  }
  case 'e': { // APPENDS
    StatusOr<std::vector<PickleRef>> items = popToMark();
    if (!items.ok())
      return items.status();
    PickleRef *list = top();
    return list ? appendItems(**list, std::move(*items))
                : error("APPENDS with no list");
  }
  case 'c': { // GLOBAL: "module\nname\n".
    std::optional<std::string> module = takeLine();
    std::optional<std::string> name = module ? takeLine() : std::nullopt;
    if (!name)
      return error("truncated GLOBAL");
    return pushGlobal(std::move(*module), std::move(*name));
  }
  case 0x93: { // STACK_GLOBAL
    StatusOr<PickleRef> name = pop();
    if (!name.ok())
      return name.status();
    StatusOr<PickleRef> module = pop();
    if (!module.ok())
      return module.status();
    if ((*name)->kind != Kind::String || (*module)->kind != Kind::String)
      return error("STACK_GLOBAL needs two strings");
    return pushGlobal((*module)->text, (*name)->text);
  }
  case 'R': // REDUCE
    return reduce();
  case 'b': // BUILD
    return build();
  case 'Q': { // BINPERSID
    StatusOr<PickleRef> id = pop();
    if (!id.ok())
      return id.status();
    return pushSequence(Kind::PersistentId, {std::move(*id)});
  }
  case 'q':   // BINPUT
  case 'r': { // LONG_BINPUT
    std::optional<uint64_t> index = takeUnsigned(opcode == 'q' ? 1 : 4);
    return index ? memoize(*index) : error("truncated memo index");
  }
  case 0x94: // MEMOIZE
    return memoize(memo.size());
  case 'h':   // BINGET
  case 'j': { // LONG_BINGET
    std::optional<uint64_t> index = takeUnsigned(opcode == 'h' ? 1 : 4);
    return index ? recall(*index) : error("truncated memo index");
  }
  default: {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", opcode);
    return error(std::string("opcode ") + hex +
                 " is not one torch.save writes (a text-protocol pickle, or "
                 "not a pickle)");
  }
  }
}

StatusOr<Pickle> PickleReader::run() {
  while (!stopped) {
    opcodeAt = at;
    if (at >= size)
      return error("the pickle ends before its STOP (truncated)");
    Status status = step(bytes[at++]);
    if (!status.ok())
      return status;
  }
  if (!marks.empty())
    return error("STOP inside a MARK");
  if (stack.size() != 1)
    return error("STOP leaves " + std::to_string(stack.size()) +
                 " values on the stack, not 1");
  Pickle pickle;
  pickle.root = stack.back();
  pickle.values = std::move(values);
  return pickle;
}

} // namespace

StatusOr<Pickle>
llamac::runtime::readPickle(const uint8_t *bytes, size_t size,
                            const std::string &origin,
                            const PickleGlobalFilter &allowGlobal) {
  return PickleReader(bytes, size, origin, allowGlobal).run();
}
