// Rendering of experiment results: tables (Markdown, CSV) and a self-contained HTML report
// with inline SVG charts.
#pragma once

#include <string>
#include <vector>

#include "domino/experiment/experiment.h"

namespace domino {

std::string results_markdown(const std::vector<CellResult>& cells);  // mean ± std over seeds
std::string results_csv(const std::vector<CellResult>& cells);       // one row per cell
// Per budget: each scheme's per-layer density next to the others; per search: the
// decisions over iterations ("dominoes falling").
std::string render_report(const std::string& name, const std::string& table_md, const std::vector<Scheme>& schemes);

}  // namespace domino
