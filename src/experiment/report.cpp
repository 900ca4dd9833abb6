#include "experiment/report.h"

#include <fmt/format.h>

#include <cmath>
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

std::string density_chart(const std::string& budget, const std::vector<const Scheme*>& schemes) {
  const auto& layers = schemes.front()->layers;
  const double width = 900, height = 260, left = 50, bottom = 200, top = 20;
  const double step = (width - left - 20) / static_cast<double>(std::max<size_t>(layers.size() - 1, 1));
  std::string svg = fmt::format("<h3>Per-layer density N/M at {}</h3>\n<svg width='{}' height='{}' font-size='10'>\n", escape(budget), width, height + 40);
  for (double y : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    const double py = bottom - y * (bottom - top);
    svg += fmt::format("<line x1='{}' x2='{}' y1='{:.1f}' y2='{:.1f}' stroke='#ddd'/><text x='5' y='{:.1f}'>{:.2f}</text>\n", left, width - 20, py, py, py + 3, y);
  }
  for (size_t i = 0; i < layers.size(); ++i)
    svg += fmt::format("<text transform='translate({:.1f},{}) rotate(60)'>{}</text>\n", left + step * static_cast<double>(i), bottom + 8, escape(layers[i].name));
  for (size_t s = 0; s < schemes.size(); ++s) {
    std::string points;
    for (size_t i = 0; i < layers.size() && i < schemes[s]->layers.size(); ++i) {
      const auto& l = schemes[s]->layers[i];
      const double density = static_cast<double>(l.N) / static_cast<double>(l.M);
      const double x = left + step * static_cast<double>(i), y = bottom - density * (bottom - top);
      points += fmt::format("{:.1f},{:.1f} ", x, y);
      svg += fmt::format("<circle cx='{:.1f}' cy='{:.1f}' r='3' fill='{}'><title>{} {}: {}:{}</title></circle>\n", x, y, kColors[s % 6],
                         escape(schemes[s]->source), escape(l.name), l.N, l.M);
    }
    svg += fmt::format("<polyline points='{}' fill='none' stroke='{}'/>\n", points, kColors[s % 6]);
    svg += fmt::format("<text x='{}' y='{}' fill='{}'>{} ({:.3f} param sparsity, {:.3f} FLOPs reduction)</text>\n", left + 10,
                       top + 12 * static_cast<double>(s), kColors[s % 6], escape(schemes[s]->source), schemes[s]->param_sparsity(),
                       schemes[s]->flops_reduction());
  }
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

std::string results_markdown(const std::vector<CellResult>& cells) {
  std::string out =
      "| budget | scheme | top-1 % (mean ± std) | seeds | params (M) | FLOPs (M) | param sparsity | FLOPs reduction | search (s) | fine-tune (s) |\n"
      "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const auto& [key, g] : group(cells)) {
    const auto& c = *g.cells.front();
    out += fmt::format("| {} | {} | {:.2f} ± {:.2f} | {} | {:.4f} | {:.2f} | {:.4f} | {:.4f} | {:.0f} | {:.0f} |\n", c.budget, c.scheme,
                       100 * g.mean(&CellResult::top1), 100 * g.stddev(&CellResult::top1), g.cells.size(), c.sparse_params / 1e6,
                       c.sparse_flops / 1e6, c.param_sparsity, c.flops_reduction, c.search_seconds,
                       g.mean(&CellResult::finetune_seconds));
  }
  return out;
}

std::string results_csv(const std::vector<CellResult>& cells) {
  std::string out = "budget,scheme,seed,top1,top5,sparse_params,sparse_flops,param_sparsity,flops_reduction,search_seconds,finetune_seconds\n";
  for (const auto& c : cells)
    out += fmt::format("{},{},{},{:.6f},{:.6f},{:.0f},{:.0f},{:.6f},{:.6f},{:.1f},{:.1f}\n", c.budget, c.scheme, c.seed, c.top1, c.top5,
                       c.sparse_params, c.sparse_flops, c.param_sparsity, c.flops_reduction, c.search_seconds, c.finetune_seconds);
  return out;
}

std::string render_report(const std::string& name, const std::string& table_md, const std::vector<Scheme>& schemes) {
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
  html += "</table>\n<h2>Schemes</h2>\n";
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
