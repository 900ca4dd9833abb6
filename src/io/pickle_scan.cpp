#include "io/pickle_scan.h"

#include <algorithm>
#include <unordered_map>
#include <utility>
#include <vector>

#include "domino/core/error.h"
#include "io/pickle_bytes.h"

namespace domino {
namespace {

// Values are nodes of a graph; containers gain edges as items are added (also after the
// container was memoised and fetched again), so depth is only known once the whole pickle
// has been read. Node 0 stands for every scalar.
class Scanner {
 public:
  Scanner(std::string_view bytes, const std::string& source, const std::string& what, const PickleLimits& limits)
      : in_(bytes, source, what), limits_(limits) {}

  void run() {
    while (true) {
      const auto op = static_cast<uint8_t>(in_.take(1)[0]);
      if (op == '.') break;  // STOP
      step(op);
    }
    if (stack_.size() != 1) bad("its pickle ends with {} values", stack_.size());
    check_depth();
  }

 private:
  using Id = uint32_t;
  static constexpr Id kLeaf = 0;

  template <typename... Args>
  [[noreturn]] void bad(fmt::format_string<Args...> format, Args&&... args) const {
    in_.bad(format, std::forward<Args>(args)...);
  }
  std::string_view take(uint64_t n) { return in_.take(n); }
  uint64_t little(size_t n) { return in_.little(n); }
  std::string_view line() { return in_.line(); }

  Id node() {
    if (nodes_ >= static_cast<uint64_t>(limits_.max_objects))
      bad("it builds more than {} values (the limit)", limits_.max_objects);
    return static_cast<Id>(++nodes_);
  }
  void push(Id id) { stack_.push_back(id); }
  Id pop() {
    if (stack_.size() <= mark_floor()) bad("it pops an empty stack");
    const Id id = stack_.back();
    stack_.pop_back();
    return id;
  }
  Id top() const {
    if (stack_.size() <= mark_floor()) bad("it reads an empty stack");
    return stack_.back();
  }
  size_t mark_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<Id> pop_to_mark() {
    if (marks_.empty()) bad("it has no mark");
    std::vector<Id> out(stack_.begin() + static_cast<std::ptrdiff_t>(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return out;
  }
  void link(Id parent, Id child) {
    if (parent != kLeaf && child != kLeaf) edges_.emplace_back(parent, child);
  }
  void link_all(Id parent, const std::vector<Id>& children) {
    for (Id c : children) link(parent, c);
  }
  // A new value built from `children` (a tuple, a list, a reduce's result).
  void build(const std::vector<Id>& children) {
    const Id id = node();
    link_all(id, children);
    push(id);
  }
  void memo_put(uint64_t key) { memo_[key] = top(); }
  void memo_get(uint64_t key) {
    const auto found = memo_.find(key);
    if (found == memo_.end()) bad("it reads an unset memo entry");
    push(found->second);
  }

  void step(uint8_t op) {
    switch (op) {
      case 0x80: take(1); break;                                     // PROTO
      case 0x95: take(8); break;                                     // FRAME
      case '(': marks_.push_back(stack_.size()); break;              // MARK
      case 'N': case 0x88: case 0x89: case 0x97: push(kLeaf); break;  // None, True, False, NEXT_BUFFER
      case 0x98: top(); break;                                       // READONLY_BUFFER
      case 'K': case 'h': case 'q': case 0x82:                       // 1-byte argument
        if (op == 'h') memo_get(little(1));
        else if (op == 'q') memo_put(little(1));
        else take(1), push(kLeaf);
        break;
      case 'M': case 0x83: take(2), push(kLeaf); break;              // BININT2, EXT2
      case 'J': case 0x84: take(4), push(kLeaf); break;              // BININT, EXT4
      case 'j': memo_get(little(4)); break;                          // LONG_BINGET
      case 'r': memo_put(little(4)); break;                          // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;                      // MEMOIZE
      case 'G': take(8), push(kLeaf); break;                         // BINFLOAT
      case 0x8a: case 'U': case 'C': case 0x8c:                      // 1-byte length
        take(little(1)), push(kLeaf);
        break;
      case 0x8b: case 'X': case 'T': case 'B':                       // 4-byte length
        take(little(4)), push(kLeaf);
        break;
      case 0x8d: case 0x8e: case 0x96: take(little(8)), push(kLeaf); break;  // 8-byte length
      case 'I': case 'L': case 'F': case 'S': case 'V': case 'P':    // text argument
        line(), push(kLeaf);
        break;
      case 'p': text_memo_[std::string(line())] = top(); break;     // PUT
      case 'g': {                                                    // GET
        const auto found = text_memo_.find(std::string(line()));
        if (found == text_memo_.end()) bad("it reads an unset memo entry");
        push(found->second);
        break;
      }
      case 'c': line(), line(), push(kLeaf); break;                  // GLOBAL
      case 0x93: pop(), pop(), push(kLeaf); break;                   // STACK_GLOBAL
      case ')': case ']': case '}': case 0x8f: build({}); break;      // empty tuple, list, dict, set
      case 't': case 'l': case 'd': case 0x91: build(pop_to_mark()); break;  // TUPLE, LIST, DICT, FROZENSET
      case 0x85: case 0x86: case 0x87: {                             // TUPLE1..3
        std::vector<Id> items(op - 0x84);
        for (auto it = items.rbegin(); it != items.rend(); ++it) *it = pop();
        build(items);
        break;
      }
      case 'a': case 'b': {                                          // APPEND, BUILD
        const Id item = pop();
        link(top(), item);
        break;
      }
      case 's': {                                                    // SETITEM
        const Id value = pop(), key = pop();
        link(top(), key);
        link(top(), value);
        break;
      }
      case 'e': case 'u': case 0x90: {                               // APPENDS, SETITEMS, ADDITEMS
        const auto items = pop_to_mark();
        link_all(top(), items);
        break;
      }
      case 'Q': build({pop()}); break;                               // BINPERSID
      case 'R': case 0x81: {                                         // REDUCE, NEWOBJ
        const Id args = pop(), callable = pop();
        build({callable, args});
        break;
      }
      case 0x92: {                                                   // NEWOBJ_EX
        const Id kwargs = pop(), args = pop(), cls = pop();
        build({cls, args, kwargs});
        break;
      }
      case 'o': build(pop_to_mark()); break;                         // OBJ
      case 'i': line(), line(), build(pop_to_mark()); break;         // INST
      case '0': pop(); break;                                        // POP
      case '1': pop_to_mark(); break;                                // POP_MARK
      case '2': push(top()); break;                                  // DUP
      default: bad("unknown pickle opcode 0x{:02x} at offset {}", op, in_.offset() - 1);
    }
  }

  // Longest path from each value through its items, leaves first (Kahn's order on the
  // reversed graph); a value never reached contains itself.
  void check_depth() const {
    const size_t n = nodes_ + 1;
    std::vector<uint32_t> pending(n, 0), depth(n, 1), first(n + 1, 0);
    for (const auto& [parent, child] : edges_) ++pending[parent], ++first[child + 1];
    for (size_t i = 0; i < n; ++i) first[i + 1] += first[i];
    std::vector<Id> parents(edges_.size());
    std::vector<uint32_t> fill(first.begin(), first.end() - 1);
    for (const auto& [parent, child] : edges_) parents[fill[child]++] = parent;
    std::vector<Id> ready;
    for (Id i = 1; i < n; ++i)
      if (pending[i] == 0) ready.push_back(i);
    size_t done = 0;
    while (!ready.empty()) {
      const Id id = ready.back();
      ready.pop_back();
      ++done;
      if (static_cast<int64_t>(depth[id]) > limits_.max_depth) bad("it nests values {} deep (the limit is {})", depth[id], limits_.max_depth);
      for (uint32_t e = first[id]; e < first[id + 1]; ++e) {
        const Id parent = parents[e];
        depth[parent] = std::max(depth[parent], depth[id] + 1);
        if (--pending[parent] == 0) ready.push_back(parent);
      }
    }
    if (done != nodes_) bad("a value contains itself");
  }

  PickleBytes in_;
  PickleLimits limits_;
  uint64_t nodes_ = 0;
  std::vector<Id> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, Id> memo_;
  std::unordered_map<std::string, Id> text_memo_;  // protocol 0's PUT and GET name entries
  std::vector<std::pair<Id, Id>> edges_;
};

}  // namespace

void check_pickle(std::string_view pickle, const std::string& source, const std::string& what, const PickleLimits& limits) {
  Scanner(pickle, source, what, limits).run();
}

}  // namespace domino
