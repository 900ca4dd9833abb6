// Rendering of experiment results: tables (Markdown, CSV) and a self-contained HTML report
// with inline SVG charts.
#pragma once

#include <string>
#include <vector>

#include "domino/experiment/experiment.h"

namespace domino {

std::string results_markdown(const std::vector<CellResult>& cells);  // mean ± std over seeds
std::string results_csv(const std::vector<CellResult>& cells);       // one row per cell
// The results table; top-1 (mean ± std over seeds, and each seed) against param sparsity
// and against FLOPs reduction; per budget each scheme's per-layer density as grouped bars;
// per search the decisions over iterations ("dominoes falling").
std::string render_report(const std::string& name, const std::vector<CellResult>& cells, const std::vector<Scheme>& schemes);

}  // namespace domino
