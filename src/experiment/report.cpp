#include "experiment/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <iterator>
#include <map>

namespace domino {
namespace {

struct Group {
  std::vector<const CellResult*> cells;
  double mean(double CellResult::*field) const {
    double s = 0;
    for (const auto* c : cells) s += c->*field;
    return s / static_cast<double>(cells.size());
  }
  double stddev(double CellResult::*field) const {  // sample std over seeds; 0 for one seed
    if (cells.size() < 2) return 0;
    const double m = mean(field);
    double s = 0;
    for (const auto* c : cells) s += (c->*field - m) * (c->*field - m);
    return std::sqrt(s / static_cast<double>(cells.size() - 1));
  }
};

// Cells grouped by (budget, scheme), in the order they first appear.
std::vector<std::pair<std::string, Group>> group(const std::vector<CellResult>& cells) {
  std::vector<std::pair<std::string, Group>> out;
  for (const auto& c : cells) {
    const std::string key = c.budget + "|" + c.scheme;
    auto it = std::find_if(out.begin(), out.end(), [&](const auto& g) { return g.first == key; });
    if (it == out.end()) {
      out.push_back({key, {}});
      it = out.end() - 1;
    }
    it->second.cells.push_back(&c);
  }
  return out;
}

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
  return out;
}

const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

// Horizontal grid lines with their values, for charts whose y runs from `lo` (at `bottom`)
// to `hi` (at `top`).
std::string y_grid(double lo, double hi, double left, double right, double bottom, double top, const char* format) {
  std::string svg;
  for (int k = 0; k <= 4; ++k) {
    const double v = lo + (hi - lo) * k / 4.0, py = bottom - (v - lo) / (hi - lo) * (bottom - top);
    svg += fmt::format("<line x1='{}' x2='{}' y1='{:.1f}' y2='{:.1f}' stroke='#ddd'/><text x='5' y='{:.1f}'>{}</text>\n", left,
                       right, py, py, py + 3, fmt::format(fmt::runtime(format), v));
  }
  return svg;
}

// Per-layer density as grouped bars: each layer's slot holds one bar per scheme, side by
// side, so schemes of equal density (a search and its fixed-N mapping) never hide each other.
std::string density_chart(const std::string& budget, const std::vector<const Scheme*>& schemes) {
  const auto& layers = schemes.front()->layers;
  const double legend = 12 * static_cast<double>(schemes.size());  // above the bars, not on them
  const double width = 900, height = 260 + legend, left = 50, right = width - 20, top = 20 + legend, bottom = top + 180;
  const double slot = (right - left) / static_cast<double>(std::max<size_t>(layers.size(), 1));
  const double bar = 0.8 * slot / static_cast<double>(schemes.size());
  std::string svg = fmt::format("<h3>Per-layer density N/M at {}</h3>\n<svg width='{}' height='{}' font-size='10'>\n", escape(budget), width, height + 90);
  svg += y_grid(0, 1, left, right, bottom, top, "{:.2f}");
  for (size_t i = 0; i < layers.size(); ++i)
    svg += fmt::format("<text transform='translate({:.1f},{}) rotate(60)'>{}</text>\n", left + slot * (static_cast<double>(i) + 0.3),
                       bottom + 8, escape(layers[i].name));
  for (size_t s = 0; s < schemes.size(); ++s) {
    for (size_t i = 0; i < layers.size() && i < schemes[s]->layers.size(); ++i) {
      const auto& l = schemes[s]->layers[i];
      const double h = static_cast<double>(l.N) / static_cast<double>(l.M) * (bottom - top);
      const double x = left + slot * (static_cast<double>(i) + 0.1) + bar * static_cast<double>(s);
      svg += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}'><title>{} {}: {}:{}</title></rect>\n", x,
                         bottom - h, bar, h, kColors[s % 6], escape(schemes[s]->source), escape(l.name), l.N, l.M);
    }
    svg += fmt::format("<text x='{}' y='{}' fill='{}'>{} ({:.3f} param sparsity, {:.3f} FLOPs reduction)</text>\n", left + 10,
                       12 * static_cast<double>(s + 1), kColors[s % 6], escape(schemes[s]->source), schemes[s]->param_sparsity(),
                       schemes[s]->flops_reduction());
  }
  return svg + "</svg>\n";
}

// Top-1 of every (budget, scheme) against how much its scheme removes (`x`): the mean over
// the seeds with a bar of ± one standard deviation, and each seed as a faint dot.
std::string tradeoff_chart(const std::vector<CellResult>& cells, const std::function<double(const CellResult&)>& x,
                           const std::string& x_label) {
  if (cells.empty()) return "";
  const double width = 900, height = 300, left = 60, right = width - 160, bottom = 260, top = 20;
  double x_lo = 1e300, x_hi = -1e300, y_lo = 1e300, y_hi = -1e300;
  for (const auto& c : cells) {
    x_lo = std::min(x_lo, x(c)), x_hi = std::max(x_hi, x(c));
    y_lo = std::min(y_lo, c.top1), y_hi = std::max(y_hi, c.top1);
  }
  const double x_pad = std::max(0.02, 0.1 * (x_hi - x_lo)), y_pad = std::max(0.002, 0.1 * (y_hi - y_lo));
  x_lo -= x_pad, x_hi += x_pad, y_lo -= y_pad, y_hi += y_pad;
  auto px = [&](double v) { return left + (v - x_lo) / (x_hi - x_lo) * (right - left); };
  auto py = [&](double v) { return bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top); };
  std::string svg = fmt::format("<h3>Top-1 against {}</h3>\n<svg width='{}' height='{}' font-size='10'>\n", escape(x_label), width,
                                height + 20);
  svg += y_grid(100 * y_lo, 100 * y_hi, left, right, bottom, top, "{:.2f}%");
  for (int k = 0; k <= 4; ++k) {
    const double v = x_lo + (x_hi - x_lo) * k / 4.0;
    svg += fmt::format("<text x='{:.1f}' y='{}'>{:.3f}</text>\n", px(v) - 10, bottom + 14, v);
  }
  svg += fmt::format("<text x='{}' y='{}'>{}</text>\n", (left + right) / 2 - 40, bottom + 30, escape(x_label));
  std::vector<std::string> schemes;  // colour by scheme, in order of appearance
  for (const auto& c : cells)
    if (std::find(schemes.begin(), schemes.end(), c.scheme) == schemes.end()) schemes.push_back(c.scheme);
  for (const auto& [key, g] : group(cells)) {
    const auto& first = *g.cells.front();
    const auto index = static_cast<size_t>(std::find(schemes.begin(), schemes.end(), first.scheme) - schemes.begin());
    const char* color = kColors[index % 6];
    // Each scheme a few pixels aside: schemes of the same sparsity (a search and its
    // fixed-N mapping) stand next to each other, not on top.
    const double offset = 8 * (static_cast<double>(index) - 0.5 * static_cast<double>(schemes.size() - 1));
    const double cx = px(x(first)) + offset, mean = g.mean(&CellResult::top1), sd = g.stddev(&CellResult::top1);
    for (const auto* c : g.cells)
      svg += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='2' fill='{}' fill-opacity='0.35'/>\n", cx, py(c->top1), color);
    svg += fmt::format("<line x1='{0:.1f}' x2='{0:.1f}' y1='{1:.1f}' y2='{2:.1f}' stroke='{3}'/>"
                       "<circle cx='{0:.1f}' cy='{4:.1f}' r='4' fill='{3}'><title>{5} at {6}: top-1 {7:.2f} ± {8:.2f} % ({9} seeds)</title></circle>\n",
                       cx, py(mean - sd), py(mean + sd), color, py(mean), escape(first.scheme), escape(first.budget), 100 * mean,
                       100 * sd, g.cells.size());
  }
  for (size_t s = 0; s < schemes.size(); ++s)
    svg += fmt::format("<text x='{}' y='{}' fill='{}'>{}</text>\n", right + 15, top + 12 * static_cast<double>(s) + 10,
                       kColors[s % 6], escape(schemes[s]));
  return svg + "</svg>\n";
}

std::string timeline_chart(const Scheme& s) {
  if (s.decisions.empty()) return "";
  const double width = 900, height = 220, left = 50, bottom = 190, top = 20;
  const double last = static_cast<double>(std::max<int64_t>(s.decisions.back().iteration, 1));
  std::string svg = fmt::format("<h3>Dominoes falling: {} search for {}</h3>\n<svg width='{}' height='{}' font-size='10'>\n",
                                escape(s.source), s.target ? escape(to_string(*s.target)) : "", width, height);
  for (double y : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const double py = bottom - y * (bottom - top);
    svg += fmt::format("<line x1='{}' x2='{}' y1='{:.1f}' y2='{:.1f}' stroke='#ddd'/><text x='5' y='{:.1f}'>{:.2f}</text>\n", left, width - 20, py, py, py + 3, y);
  }
  std::string params = fmt::format("{},{} ", left, bottom), flops = params;
  for (const auto& d : s.decisions) {
    const double x = left + (width - left - 20) * static_cast<double>(d.iteration) / last;
    const double yp = bottom - d.param_sparsity * (bottom - top), yf = bottom - d.flops_reduction * (bottom - top);
    params += fmt::format("{:.1f},{:.1f} ", x, yp);
    flops += fmt::format("{:.1f},{:.1f} ", x, yf);
    svg += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='#1f77b4'><title>iteration {}: {} -> N={}</title></circle>\n", x, yp,
                       d.iteration, escape(d.layer), d.N);
  }
  svg += fmt::format("<polyline points='{}' fill='none' stroke='#1f77b4'/><polyline points='{}' fill='none' stroke='#ff7f0e'/>\n", params, flops);
  svg += fmt::format("<text x='{}' y='{}' fill='#1f77b4'>param sparsity</text><text x='{}' y='{}' fill='#ff7f0e'>FLOPs reduction</text>"
                     "<text x='{}' y='{}'>iteration {} (last decision)</text>\n</svg>\n",
                     left + 10, top, left + 110, top, width - 200, height - 5, s.decisions.back().iteration);
  return svg;
}

}  // namespace

namespace {

bool any_latency(const std::vector<CellResult>& cells) {
  return std::any_of(cells.begin(), cells.end(), [](const CellResult& c) { return c.latency_ms.has_value(); });
}

bool any_forward(const std::vector<CellResult>& cells) {
  return std::any_of(cells.begin(), cells.end(), [](const CellResult& c) { return c.forward_ms.has_value(); });
}

std::string optional_number(const std::optional<double>& v, const char* format) {
  return v ? fmt::format(fmt::runtime(format), *v) : "";
}

}  // namespace

std::string results_markdown(const std::vector<CellResult>& cells) {
  const bool latency = any_latency(cells);  // columns of the latency table, when the experiment has one
  const bool forward = any_forward(cells);  // and of the measured whole forwards
  std::string out = fmt::format(
      "| budget | scheme | top-1 % (mean ± std) | seeds | params (M) | FLOPs (M) | param sparsity | FLOPs reduction |{}{} search (s) | fine-tune (s) |\n"
      "|---|---|---|---|---|---|---|---|{}{}---|---|\n",
      latency ? " latency (ms, table) | latency reduction |" : "",
      forward ? " forward (ms, measured) | speed-up over dense |" : "", latency ? "---|---|" : "", forward ? "---|---|" : "");
  for (const auto& [key, g] : group(cells)) {
    const auto& c = *g.cells.front();
    std::string latency_columns =
        latency ? fmt::format(" {} | {} |", optional_number(c.latency_ms, "{:.3f}"), optional_number(c.latency_reduction, "{:.4f}")) : "";
    if (forward)
      latency_columns += c.forward_ms ? fmt::format(" {:.3f} | {:.2f}x |", *c.forward_ms, *c.dense_forward_ms / *c.forward_ms) : " | |";
    out += fmt::format("| {} | {} | {:.2f} ± {:.2f} | {} | {:.4f} | {:.2f} | {:.4f} | {:.4f} |{} {:.0f} | {:.0f} |\n", c.budget, c.scheme,
                       100 * g.mean(&CellResult::top1), 100 * g.stddev(&CellResult::top1), g.cells.size(), c.sparse_params / 1e6,
                       c.sparse_flops / 1e6, c.param_sparsity, c.flops_reduction, latency_columns, c.search_seconds,
                       g.mean(&CellResult::finetune_seconds));
  }
  return out;
}

std::string results_csv(const std::vector<CellResult>& cells) {
  const bool latency = any_latency(cells), forward = any_forward(cells);
  std::string out = fmt::format("budget,scheme,seed,top1,top5,sparse_params,sparse_flops,param_sparsity,flops_reduction,{}{}"
                                "search_seconds,finetune_seconds\n", latency ? "latency_ms,latency_reduction," : "",
                                forward ? "forward_ms,dense_forward_ms," : "");
  for (const auto& c : cells)
    out += fmt::format("{},{},{},{:.6f},{:.6f},{:.0f},{:.0f},{:.6f},{:.6f},{}{}{:.1f},{:.1f}\n", c.budget, c.scheme, c.seed, c.top1, c.top5,
                       c.sparse_params, c.sparse_flops, c.param_sparsity, c.flops_reduction,
                       latency ? fmt::format("{},{},", optional_number(c.latency_ms, "{:.6f}"),
                                             optional_number(c.latency_reduction, "{:.6f}"))
                               : "",
                       forward ? fmt::format("{},{},", optional_number(c.forward_ms, "{:.6f}"),
                                             optional_number(c.dense_forward_ms, "{:.6f}"))
                               : "",
                       c.search_seconds, c.finetune_seconds);
  return out;
}

std::string render_report(const std::string& name, const std::vector<CellResult>& cells, const std::vector<Scheme>& schemes) {
  const std::string table_md = results_markdown(cells);
  std::string html = fmt::format(
      "<!doctype html>\n<html><head><meta charset='utf-8'><title>{0}</title>\n"
      "<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:3px 8px}}</style>"
      "</head><body>\n<h1>{0}</h1>\n<h2>Results</h2>\n<table>\n",
      escape(name));
  bool header = true;
  for (size_t start = 0; start < table_md.size();) {
    const size_t end = table_md.find('\n', start);
    const std::string line = table_md.substr(start, end - start);
    start = end + 1;
    if (line.rfind("|---", 0) == 0) continue;
    html += "<tr>";
    for (size_t a = 1, b; (b = line.find('|', a)) != std::string::npos; a = b + 1)
      html += fmt::format(header ? "<th>{}</th>" : "<td>{}</td>", escape(line.substr(a + 1, b - a - 2)));
    html += "</tr>\n";
    header = false;
  }
  html += "</table>\n<h2>Accuracy and what the schemes remove</h2>\n";
  html += tradeoff_chart(cells, [](const CellResult& c) { return c.param_sparsity; }, "param sparsity");
  html += tradeoff_chart(cells, [](const CellResult& c) { return c.flops_reduction; }, "FLOPs reduction");
  // Cells without a latency (fixed-n's own M) are left out of these.
  using Field = std::optional<double> CellResult::*;
  const std::pair<Field, const char*> latencies[] = {
      {&CellResult::latency_ms, "latency of the prunable layers (ms, by the latency table)"},
      {&CellResult::forward_ms, "the whole forward under the N:M engine (ms, measured end to end)"}};
  for (const auto& latency : latencies) {
    const Field field = latency.first;
    std::vector<CellResult> timed;
    std::copy_if(cells.begin(), cells.end(), std::back_inserter(timed), [field](const CellResult& c) { return (c.*field).has_value(); });
    if (!timed.empty()) html += tradeoff_chart(timed, [field](const CellResult& c) { return *(c.*field); }, latency.second);
  }
  html += "<h2>Schemes</h2>\n";
  std::map<std::string, std::vector<const Scheme*>> by_budget;
  std::vector<std::string> order;
  for (const auto& s : schemes) {
    const std::string budget = s.target ? to_string(*s.target) : "";
    if (!by_budget.count(budget)) order.push_back(budget);
    by_budget[budget].push_back(&s);
  }
  for (const auto& budget : order) html += density_chart(budget, by_budget[budget]);
  html += "<h2>Search decisions</h2>\n";
  for (const auto& s : schemes)
    if (s.source == "dominosearch" || s.source == "dominosearch-no-eta") html += timeline_chart(s);
  return html + "</body></html>\n";
}

}  // namespace domino
