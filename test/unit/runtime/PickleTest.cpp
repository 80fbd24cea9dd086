//===- PickleTest.cpp - The pickle reader that runs nothing ---------------===//
//
// Hand-written pickles (the opcodes as pickletools.dis prints them) for
// what torch.save writes and for the ways a stream can be wrong.
//
//===----------------------------------------------------------------------===//

#include "runtime/Pickle.h"

#include <gtest/gtest.h>

using namespace llamac::runtime;

namespace {

bool allowTorch(const std::string &name) {
  return name == "collections.OrderedDict" ||
         name == "torch._utils._rebuild_tensor_v2" ||
         name == "torch.FloatStorage";
}

/// The bytes of a literal, NULs included. Literals split where a hex
/// escape would otherwise swallow the next character ("\x00" "a").
template <size_t N> std::string bytes(const char (&literal)[N]) {
  return std::string(literal, N - 1);
}

StatusOr<Pickle> read(const std::string &bytes) {
  return readPickle(reinterpret_cast<const uint8_t *>(bytes.data()),
                    bytes.size(), "data.pkl", allowTorch);
}

/// What torch.save(OrderedDict(w=torch.zeros(2, 3)), f) pickles, memo
/// traffic included.
const std::string kStateDict =
    bytes(/* PROTO 2; GLOBAL, BINPUT 0; EMPTY_TUPLE, REDUCE; MARK */
          "\x80\x02"
          "ccollections\nOrderedDict\nq\x00)Rq\x01("
          /* BINUNICODE 'w'; GLOBAL; MARK, MARK */
          "X\x01\x00\x00\x00"
          "w"
          "ctorch._utils\n_rebuild_tensor_v2\nq\x02(("
          /* ('storage', torch.FloatStorage, '0', 'cpu', 6), BINPERSID */
          "X\x07\x00\x00\x00"
          "storage"
          "ctorch\nFloatStorage\n"
          "X\x01\x00\x00\x00"
          "0"
          "X\x03\x00\x00\x00"
          "cpu"
          "K\x06tQ"
          /* offset 0, size (2, 3), stride (3, 1), False, OrderedDict() */
          "K\x00K\x02K\x03\x86K\x03K\x01\x86\x89h\x00)R"
          /* TUPLE, REDUCE; SETITEMS; STOP */
          "tRu.");

TEST(PickleTest, ReadsAStateDict) {
  StatusOr<Pickle> pickle = read(kStateDict);
  ASSERT_TRUE(pickle.ok()) << pickle.message();
  const PickleValue &dict = *pickle->root;
  ASSERT_EQ(dict.kind, PickleValue::Kind::Dict);
  ASSERT_EQ(dict.items.size(), 2u);
  EXPECT_EQ(dict.items[0]->text, "w");
  const PickleValue &call = *dict.items[1];
  ASSERT_NE(call.callee(), nullptr);
  EXPECT_TRUE(call.callee()->isGlobal("torch._utils._rebuild_tensor_v2"));
  const std::vector<PickleRef> &arguments = call.items[1]->items;
  ASSERT_EQ(arguments.size(), 6u);
  ASSERT_EQ(arguments[0]->kind, PickleValue::Kind::PersistentId);
  const PickleValue &id = *arguments[0]->items[0];
  ASSERT_EQ(id.items.size(), 5u);
  EXPECT_TRUE(id.items[1]->isGlobal("torch.FloatStorage"));
  EXPECT_EQ(id.items[4]->integer, 6);
  EXPECT_EQ(arguments[2]->describe(), "a tuple of 2");
  EXPECT_EQ(arguments[2]->items[1]->integer, 3);
  EXPECT_EQ(arguments[3]->items[0]->integer, 3);
  EXPECT_FALSE(arguments[4]->boolean);
  // The backward hooks: the memoized OrderedDict class, called again.
  EXPECT_EQ(arguments[5]->kind, PickleValue::Kind::Dict);
}

TEST(PickleTest, ReadsIntegersOfEveryWidth) {
  // [BININT1 255, BININT2 65535, BININT -2, LONG1 2**40, LONG1 -1]
  StatusOr<Pickle> list =
      read(bytes("\x80\x02](K\xffM\xff\xffJ\xfe\xff\xff\xff"
                 "\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\x01\xff"
                 "e."));
  ASSERT_TRUE(list.ok()) << list.message();
  std::vector<int64_t> values;
  for (const PickleRef &item : list->root->items)
    values.push_back(item->integer);
  EXPECT_EQ(values,
            (std::vector<int64_t>{255, 65535, -2, int64_t(1) << 40, -1}));
}

TEST(PickleTest, ProtocolFourFramesAndStackGlobals) {
  // FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL, EMPTY_TUPLE, REDUCE.
  StatusOr<Pickle> value =
      read(bytes("\x80\x04\x95\x2c\x00\x00\x00\x00\x00\x00\x00"
                 "\x8c\x0b"
                 "collections\x94"
                 "\x8c\x0b"
                 "OrderedDict\x94\x93\x94)R\x94."));
  ASSERT_TRUE(value.ok()) << value.message();
  EXPECT_EQ(value->root->kind, PickleValue::Kind::Dict);
}

TEST(PickleTest, ReadsADictHoldingItself) {
  // EMPTY_DICT, BINPUT 0, BINGET 0, BINGET 0, SETITEM: d[d] = d. The
  // values are owned by the Pickle, so the cycle is freed with it.
  StatusOr<Pickle> pickle = read(bytes("\x80\x02}q\x00h\x00h\x00s."));
  ASSERT_TRUE(pickle.ok()) << pickle.message();
  EXPECT_EQ(pickle->root->items.size(), 2u);
  EXPECT_EQ(pickle->root->items[1], pickle->root);
}

TEST(PickleTest, RefusesGlobalsItDoesNotAllow) {
  // The classic: os.system('echo pwned').
  EXPECT_EQ(read(bytes("\x80\x02"
                       "cposix\nsystem\nX\x0a\x00\x00\x00"
                       "echo pwned\x85R."))
                .message(),
            "data.pkl: byte 2: refers to posix.system, which a checkpoint of "
            "tensors has no need of; llamac runs no code from pickles");
}

TEST(PickleTest, ReportsWhereAStreamGoesWrong) {
  EXPECT_EQ(read(kStateDict.substr(0, kStateDict.size() - 1)).message(),
            "data.pkl: byte " + std::to_string(kStateDict.size() - 1) +
                ": the pickle ends before its STOP (truncated)");
  EXPECT_EQ(read(kStateDict.substr(0, 50)).message(),
            "data.pkl: byte 40: truncated GLOBAL");
  EXPECT_EQ(read(bytes("\x80\x02X\xff\x00\x00\x00"
                       "ab."))
                .message(),
            "data.pkl: byte 2: truncated string");
  EXPECT_EQ(read(bytes("\x80\x02h\x05.")).message(),
            "data.pkl: byte 2: memo entry 5 was never set");
  EXPECT_EQ(read("\x80\x02R.").message(),
            "data.pkl: byte 2: the stack is empty");
  EXPECT_EQ(read("\x80\x02(K\x01\x86.").message(),
            "data.pkl: byte 5: a tuple of 2 needs that many values on the "
            "stack");
  EXPECT_EQ(read("\x80\x02K\x01K\x02.").message(),
            "data.pkl: byte 6: STOP leaves 2 values on the stack, not 1");
  EXPECT_EQ(read("\x80\x02K\x01K\x02s.").message(),
            "data.pkl: byte 6: SETITEM with no dict");
  EXPECT_EQ(read("\x80\x02]K\x01K\x02s.").message(),
            "data.pkl: byte 7: setting items of a list of 0, not a dict");
  EXPECT_EQ(read("\x80\x02I1\n.").message(),
            "data.pkl: byte 2: opcode 0x49 is not one torch.save writes (a "
            "text-protocol pickle, or not a pickle)");
  EXPECT_EQ(read("\x80\x09.").message(),
            "data.pkl: byte 0: pickle protocol 9; torch.save writes protocols "
            "2 to 5");
  EXPECT_EQ(read("\x80\x02K\x01)R.").message(),
            "data.pkl: byte 5: REDUCE calls an int 1, not a global");
}

} // namespace
