#include "domino/io/state_dict.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <unordered_map>

#include "domino/core/error.h"
#include "io/pickle_bytes.h"
#include "io/pickle_scan.h"
#include "io/zip_check.h"

namespace domino {
namespace {

struct PyObject;
using Value = std::shared_ptr<PyObject>;

// The Python values a state dict's pickle builds.
struct PyObject {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Dict, Global, Tensor } kind = Kind::None;
  int64_t integer = 0;
  double real = 0;
  std::string text;  // Str and Bytes; "module.name" for a Global
  std::vector<Value> items;
  std::vector<std::pair<Value, Value>> entries;
  at::Tensor tensor;
};

Value make(PyObject::Kind kind) {
  auto v = std::make_shared<PyObject>();
  v->kind = kind;
  return v;
}

const std::map<std::string, at::ScalarType>& storage_types() {
  static const std::map<std::string, at::ScalarType> types = {
      {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte}, {"BoolStorage", at::kBool}};
  return types;
}

class Unpickler {
 public:
  Unpickler(caffe2::serialize::PyTorchStreamReader& archive, std::string source)
      : archive_(archive), source_(std::move(source)), bytes_(data_pickle(archive)), in_(bytes_, source_, what_) {
    check_pickle(bytes_, source_, what_);
  }

  Value run() {
    while (true) {
      const auto op = static_cast<uint8_t>(take(1)[0]);
      if (op == '.') break;  // STOP
      step(op);
    }
    if (stack_.size() != 1) bad("the pickle ends with {} values", stack_.size());
    return stack_.back();
  }

 private:
  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> format, Args&&... args) const {
    in_.bad(format, std::forward<Args>(args)...);
  }
  std::string_view take(uint64_t n) { return in_.take(n); }
  uint64_t little(size_t n) { return in_.little(n); }
  std::string line() { return std::string(in_.line()); }

  Value pop() {
    if (stack_.empty()) bad("its pickle pops an empty stack");
    Value v = stack_.back();
    stack_.pop_back();
    return v;
  }
  std::vector<Value> pop_to_mark() {
    if (marks_.empty()) bad("its pickle has no mark");
    std::vector<Value> out(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return out;
  }
  void push_int(int64_t v) {
    auto x = make(PyObject::Kind::Int);
    x->integer = v;
    stack_.push_back(x);
  }
  void push_text(PyObject::Kind kind, std::string_view s) {
    auto x = make(kind);
    x->text = std::string(s);
    stack_.push_back(x);
  }
  void push_tuple(std::vector<Value> items) {
    auto t = make(PyObject::Kind::Tuple);
    t->items = std::move(items);
    stack_.push_back(t);
  }
  void push_global(const std::string& module, const std::string& name) {
    push_text(PyObject::Kind::Global, module + "." + name);
  }
  Value& top() {
    if (stack_.empty()) bad("its pickle reads an empty stack");
    return stack_.back();
  }
  void set_items(const std::vector<Value>& kv) {
    auto& d = top();
    if (d->kind != PyObject::Kind::Dict) bad("its pickle sets items on a non-dict");
    for (size_t i = 0; i + 1 < kv.size(); i += 2) d->entries.emplace_back(kv[i], kv[i + 1]);
  }
  void append(const std::vector<Value>& items) {
    auto& l = top();
    if (l->kind != PyObject::Kind::List) bad("its pickle appends to a non-list");
    l->items.insert(l->items.end(), items.begin(), items.end());
  }

  void step(uint8_t op) {
    using K = PyObject::Kind;
    switch (op) {
      case 0x80: take(1); break;                                   // PROTO
      case 0x95: take(8); break;                                   // FRAME
      case '(': marks_.push_back(stack_.size()); break;            // MARK
      case 'N': stack_.push_back(make(K::None)); break;
      case 0x88: case 0x89: {                                      // NEWTRUE, NEWFALSE
        auto b = make(K::Bool);
        b->integer = op == 0x88;
        stack_.push_back(b);
        break;
      }
      case 'K': push_int(static_cast<int64_t>(little(1))); break;  // BININT1
      case 'M': push_int(static_cast<int64_t>(little(2))); break;  // BININT2
      case 'J': push_int(static_cast<int32_t>(little(4))); break;  // BININT
      case 0x8a: {                                                 // LONG1
        const size_t n = static_cast<size_t>(little(1));
        if (n > 8) bad("an integer of {} bytes", n);
        uint64_t v = n ? little(n) : 0;
        if (n && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);  // sign-extend
        push_int(static_cast<int64_t>(v));
        break;
      }
      case 'G': {                                                  // BINFLOAT, big-endian
        const auto b = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(b[static_cast<size_t>(i)]);
        auto f = make(K::Float);
        std::memcpy(&f->real, &bits, 8);
        stack_.push_back(f);
        break;
      }
      case 'X': push_text(K::Str, take(little(4))); break;         // BINUNICODE
      case 0x8c: push_text(K::Str, take(little(1))); break;        // SHORT_BINUNICODE
      case 0x8d: push_text(K::Str, take(little(8))); break;        // BINUNICODE8
      case 'T': push_text(K::Bytes, take(little(4))); break;       // BINSTRING
      case 'U': push_text(K::Bytes, take(little(1))); break;       // SHORT_BINSTRING
      case 'B': push_text(K::Bytes, take(little(4))); break;       // BINBYTES
      case 'C': push_text(K::Bytes, take(little(1))); break;       // SHORT_BINBYTES
      case ')': push_tuple({}); break;                             // EMPTY_TUPLE
      case 't': push_tuple(pop_to_mark()); break;                  // TUPLE
      case 0x85: case 0x86: case 0x87: {                           // TUPLE1..3
        std::vector<Value> items(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        push_tuple(std::move(items));
        break;
      }
      case ']': stack_.push_back(make(K::List)); break;            // EMPTY_LIST
      case 'l': {                                                  // LIST
        auto l = make(K::List);
        l->items = pop_to_mark();
        stack_.push_back(l);
        break;
      }
      case '}': stack_.push_back(make(K::Dict)); break;            // EMPTY_DICT
      case 'd': {                                                  // DICT
        const auto kv = pop_to_mark();
        stack_.push_back(make(K::Dict));
        set_items(kv);
        break;
      }
      case 's': {                                                  // SETITEM
        auto v = pop();
        auto k = pop();
        set_items({k, v});
        break;
      }
      case 'u': set_items(pop_to_mark()); break;                   // SETITEMS
      case 'a': append({pop()}); break;                            // APPEND
      case 'e': append(pop_to_mark()); break;                      // APPENDS
      case 'q': memo_[little(1)] = top(); break;                   // BINPUT
      case 'r': memo_[little(4)] = top(); break;                   // LONG_BINPUT
      case 0x94: memo_[memo_.size()] = top(); break;               // MEMOIZE
      case 'h': case 'j': {                                        // BINGET, LONG_BINGET
        const auto found = memo_.find(little(op == 'h' ? 1 : 4));
        if (found == memo_.end()) bad("its pickle reads an unset memo entry");
        stack_.push_back(found->second);
        break;
      }
      case 'c': {                                                  // GLOBAL
        const auto module = line();
        push_global(module, line());
        break;
      }
      case 0x93: {                                                 // STACK_GLOBAL
        const auto name = pop();
        const auto module = pop();
        push_global(module->text, name->text);
        break;
      }
      case 'Q': stack_.push_back(load_storage(pop())); break;      // BINPERSID
      case 'R': {                                                  // REDUCE
        const auto args = pop();
        const auto callable = pop();
        stack_.push_back(reduce(callable, args));
        break;
      }
      case 'b': {                                                  // BUILD: state of an OrderedDict (_metadata) or a tensor
        pop();
        if (top()->kind != K::Dict && top()->kind != K::Tensor) bad("it holds objects other than tensors");
        break;
      }
      default: bad("unsupported pickle opcode 0x{:02x}", op);
    }
  }

  Value load_storage(const Value& pid) {
    if (pid->kind != PyObject::Kind::Tuple || pid->items.size() < 5 || pid->items[0]->text != "storage")
      bad("an unknown persistent object");
    const std::string type = pid->items[1]->text, key = pid->items[2]->text;
    const auto name = type.substr(type.rfind('.') + 1);
    const auto dtype = storage_types().find(name);
    if (dtype == storage_types().end()) bad("unsupported storage type {}", type);
    auto& cached = storages_[key];
    if (!cached.defined()) {
      if (!archive_.hasRecord("data/" + key)) bad("storage {} is missing from the archive", key);
      auto [data, size] = archive_.getRecord("data/" + key);
      const auto element = static_cast<size_t>(c10::elementSize(dtype->second));
      const auto numel = pid->items[4]->integer;
      if (size != static_cast<size_t>(numel) * element) bad("storage {} has {} bytes, not {}", key, size, numel * element);
      cached = torch::from_blob(data.get(), {numel}, torch::TensorOptions().dtype(dtype->second)).clone();
    }
    auto v = make(PyObject::Kind::Tensor);
    v->tensor = cached;
    return v;
  }

  static std::vector<int64_t> ints(const Value& tuple) {
    std::vector<int64_t> out;
    for (const auto& v : tuple->items) out.push_back(v->integer);
    return out;
  }

  Value reduce(const Value& callable, const Value& args) {
    const std::string& name = callable->text;
    if (callable->kind != PyObject::Kind::Global) bad("it calls a non-global");
    if (name == "collections.OrderedDict") return make(PyObject::Kind::Dict);
    const auto& a = args->items;
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      if (a.size() < 4 || a[0]->kind != PyObject::Kind::Tensor) bad("a malformed tensor");
      auto t = make(PyObject::Kind::Tensor);
      t->tensor = a[0]->tensor.as_strided(ints(a[2]), ints(a[3]), a[1]->integer);
      return t;
    }
    if (name == "torch.jit._pickle.restore_type_tag") {  // LibTorch's pickle_save types its dicts (our own exports)
      if (a.empty()) bad("a malformed type tag");
      return a[0];
    }
    if (name == "torch._utils._rebuild_parameter") {
      if (a.empty() || a[0]->kind != PyObject::Kind::Tensor) bad("a malformed parameter");
      return a[0];
    }
    bad("it holds a {}, which a state dict does not", name);
  }

  static std::string data_pickle(caffe2::serialize::PyTorchStreamReader& archive) {
    auto [data, size] = archive.getRecord("data.pkl");
    return std::string(static_cast<const char*>(data.get()), size);
  }

  caffe2::serialize::PyTorchStreamReader& archive_;
  std::string source_;
  const std::string what_ = "PyTorch state dict";
  std::string bytes_;
  PickleBytes in_;
  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Value> memo_;
  std::map<std::string, at::Tensor> storages_;
};

bool is_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail("weight file {} not found", path);
  char magic[2] = {0, 0};
  in.read(magic, 2);
  return magic[0] == 'P' && magic[1] == 'K';
}

// The tensors of a dict whose values are all tensors; nullptr otherwise.
std::unique_ptr<StateDict> as_state_dict(const Value& v) {
  if (v->kind != PyObject::Kind::Dict) return nullptr;
  auto out = std::make_unique<StateDict>();
  for (const auto& [k, x] : v->entries) {
    if (k->kind != PyObject::Kind::Str || x->kind != PyObject::Kind::Tensor) return nullptr;
    std::string name = k->text;
    if (name.rfind("module.", 0) == 0) name = name.substr(7);  // saved from DataParallel
    out->emplace_back(std::move(name), x->tensor);
  }
  return out;
}

}  // namespace

StateDict read_pytorch_state_dict(const std::string& path) {
  if (!is_zip(path))
    fail("{} is not a PyTorch zip archive (torch.save's format since PyTorch 1.6); a legacy file can be converted "
         "in Python with torch.save(torch.load(f), f)", path);
  {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    check_zip_sizes(in, static_cast<uint64_t>(in.tellg()), path, "PyTorch state dict");
  }
  Value root;
  try {
    caffe2::serialize::PyTorchStreamReader archive(path);
    root = Unpickler(archive, path).run();
  } catch (const c10::Error& e) {
    fail("{} is not a readable PyTorch archive (truncated or damaged): {}", path, e.msg().substr(0, e.msg().find('\n')));
  }
  if (auto dict = as_state_dict(root)) return std::move(*dict);
  if (root->kind == PyObject::Kind::Dict)
    for (const auto& [k, x] : root->entries)
      if (k->kind == PyObject::Kind::Str && (k->text == "state_dict" || k->text == "model_state" || k->text == "model"))
        if (auto dict = as_state_dict(x)) return std::move(*dict);
  fail("{} holds no state dict (a dict of tensors, possibly under 'state_dict', 'model_state' or 'model')", path);
}

}  // namespace domino
