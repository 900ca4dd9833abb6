// An N:M convolution as one sparse-times-dense product per image (docs/engine.md).
//
// The input is padded and, for stride s > 1, split into phase images (the rows and columns
// of one remainder mod s), so that every kept weight (c, kh, kw) reads one contiguous run:
// output pixel (y, x) at position q = y * Wh + x of a "wide" output row of Wh >= Wo columns
// reads phase (kh mod s, kw mod s), channel c, at q + (kh / s) * Wh + kw / s. The Wh - Wo
// extra columns are computed and dropped: cheaper than breaking the runs.
//
// Alignment: vector loads that cross a cache line cost about twice as much. A 1x1
// convolution reads every run at q + c * plane, so where a plane can be rounded up to 16
// floats (at most half again the columns) every run starts on a 64-byte boundary. A 1x1
// convolution of stride 1 without padding is one row of H x W columns, read in place.
// (Taps kw > 0 would need a copy of the input per column shift to align: measured slower.)
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <unistd.h>

#include <algorithm>
#include <limits>

#include "core/shape.h"
#include "domino/core/error.h"
#include "domino/engine/engine.h"
#include "engine/nhwc_kernel.h"
#include "engine/nm_rows.h"
#include "engine/spmm_kernel.h"

namespace domino::engine {

int64_t l2_cache_bytes() {
  static const int64_t bytes = [] {
    const long reported = sysconf(_SC_LEVEL2_CACHE_SIZE);
    return reported > 0 ? static_cast<int64_t>(reported) : int64_t{1} << 20;
  }();
  return bytes;
}

// Prefetching costs load slots, which the kernel is short of: only where the input cannot
// all be in the threads' L2 caches (it was just written by the layer before, if it fits).
// Measured: 1x1 layers at batch 8 and 32 gain up to 1.7x; 3x3 layers at batch 1, their
// input in cache, lost up to 24 % with it (docs/benchmarks.md).
bool nhwc_prefetches(int64_t input_bytes, int threads) { return input_bytes > threads * l2_cache_bytes(); }

// Measured on ResNet-50's shapes at batch 32, 1:16 (docs/benchmarks.md): layer1.conv3's 103
// MB output 1.6-1.9x faster, layer2.0.downsample's 51 MB 1.1-1.3x; 8:16 within the noise.
bool nhwc_streams(int64_t output_bytes) { return output_bytes > (int64_t{32} << 20); }

namespace {

constexpr int64_t kAlign = 16;  // floats: an AVX-512 vector, a 64-byte cache line

int64_t round_up(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

// Output rows (or columns) of a convolution over `in` input rows.
int64_t conv_out(int64_t in, int64_t kernel, int64_t pad, int64_t stride) { return (in + 2 * pad - kernel) / stride + 1; }

// Where each image's input lies for the kernel (see the file comment).
struct InputLayout {
  int64_t channels = 0, s = 1, pad = 0;
  int64_t h = 0, w = 0;                    // the image as the kernel sees it: 1 x H*W for a flat 1x1
  int64_t ho = 0, wo = 0;                  // output rows and columns of that view
  int64_t phase_rows = 1, phase_cols = 1;  // phases used: min(kh, s) x min(kw, s)
  int64_t hh = 0, wh = 0;                  // phase image rows, row width
  int64_t plane = 0, phase_stride = 0, image_stride = 0;
  bool in_place = false;  // the input tensor itself has this layout
};

InputLayout input_layout(int64_t channels, int64_t h, int64_t w, int64_t kh, int64_t kw, int64_t s, int64_t pad) {
  InputLayout l;
  l.channels = channels;
  l.s = s;
  l.pad = pad;
  const bool one_by_one = kh == 1 && kw == 1;
  l.in_place = one_by_one && s == 1 && pad == 0;
  l.h = l.in_place ? 1 : h;
  l.w = l.in_place ? h * w : w;
  const int64_t hp = l.h + 2 * pad, wp = l.w + 2 * pad;
  l.ho = conv_out(l.h, kh, pad, s);
  l.wo = conv_out(l.w, kw, pad, s);
  l.hh = (hp + s - 1) / s;
  const int64_t columns = (wp + s - 1) / s;
  const bool align = one_by_one && !l.in_place && round_up(columns, kAlign) * 2 <= columns * 3;
  l.wh = align ? round_up(columns, kAlign) : columns;
  l.phase_rows = std::min(kh, s);
  l.phase_cols = std::min(kw, s);
  l.plane = l.hh * l.wh;
  l.phase_stride = channels * l.plane;
  // Taps kw / s > 0 read up to a row past the last plane.
  l.image_stride = l.phase_rows * l.phase_cols * l.phase_stride + ((kw - 1) / s > 0 ? l.wh : 0);
  return l;
}

// Each image's input in layout `l` (zero where padding), from NCHW `src`.
void lay_out(const float* src, float* dst, int64_t batch, const InputLayout& l) {
  const int64_t s = l.s, pad = l.pad, plane = l.plane;
  at::parallel_for(0, batch * l.channels, std::max<int64_t>(1, 16384 / plane), [&](int64_t begin, int64_t end) {
    for (int64_t bc = begin; bc < end; ++bc) {
      const int64_t b = bc / l.channels, c = bc % l.channels;
      const float* in = src + bc * l.h * l.w;
      for (int64_t a = 0; a < l.phase_rows; ++a)
        for (int64_t e = 0; e < l.phase_cols; ++e) {
          float* out = dst + b * l.image_stride + (a * l.phase_cols + e) * l.phase_stride + c * plane;
          std::fill_n(out, plane, 0.f);
          // Column j of this phase reads input column j * s + e - pad, inside for j in [j0, j1).
          const int64_t j0 = std::min(l.wh, (pad - e + s - 1) / s);
          const int64_t last = l.w - 1 + pad - e;  // j * s <= last
          const int64_t j1 = last < 0 ? j0 : std::max(j0, std::min(l.wh, last / s + 1));
          for (int64_t i = 0; i < l.hh; ++i) {
            const int64_t y = i * s + a - pad;
            if (y < 0 || y >= l.h) continue;
            const float* row = in + y * l.w + j0 * s + e - pad;
            float* o = out + i * l.wh;
            if (s == 1) std::copy(row, row + (j1 - j0), o + j0);
            else
              for (int64_t j = j0; j < j1; ++j) o[j] = row[(j - j0) * s];
          }
        }
      if (c == l.channels - 1)
        std::fill(dst + b * l.image_stride + l.phase_rows * l.phase_cols * l.phase_stride, dst + (b + 1) * l.image_stride, 0.f);
    }
  });
}

// The channels-last kernel's weights (nhwc_kernel.h): per block of 16 output channels and
// chunk of 16 input channels at one tap, k = N x 16 / M vectors of 16 values, each carrying
// its lane (nhwc_weight). Left undefined where that kernel cannot run the layer.
void pack_channels_last(const NmLayer& weight, const NmRows& rows, int64_t groups, ChannelsLastWeights& out) {
  const int64_t cout = weight.shape[0], cin = weight.shape[1], taps = weight.shape[2] * weight.shape[3];
  if (weight.layout != Layout::NHWC || kNhwcBlock % weight.M != 0 || cin % kNhwcBlock != 0 ||
      (cout / groups) % kNhwcBlock != 0)
    return;
  const int64_t k = weight.N * kNhwcBlock / weight.M, chunks = taps * cin / kNhwcBlock;
  out.k = k;
  out.values = torch::zeros({cout / kNhwcBlock, chunks, k, kNhwcBlock}, torch::kFloat);
  float* values = out.values.data_ptr<float>();
  std::vector<int64_t> used(static_cast<size_t>(chunks));
  for (int64_t row = 0; row < cout; ++row) {
    std::fill(used.begin(), used.end(), 0);
    const int64_t block = row / kNhwcBlock, lane = row % kNhwcBlock;
    for (int64_t i = row * rows.nnz; i < (row + 1) * rows.nnz; ++i) {
      // NHWC positions run (tap, channel): position / 16 is the chunk, position % 16 the lane.
      const int64_t chunk = rows.position[i] / kNhwcBlock;
      const int64_t j = used[chunk]++;
      if (j >= k) fail("{}: more than {} kept weights in 16 channels of row {}", weight.name, k, row);
      const int64_t at = ((block * chunks + chunk) * k + j) * kNhwcBlock + lane;
      values[at] = nhwc_weight(rows.values[i], static_cast<int>(rows.position[i] % kNhwcBlock));
    }
  }
}

}  // namespace

NmConv2d::NmConv2d(const NmLayer& weight, const at::Tensor& bias, ConvGeometry geometry)
    : shape_(weight.shape), geometry_(geometry) {
  if (shape_.size() != 4) fail("{}: an N:M convolution needs a 4-d weight, not {}-d", weight.name, shape_.size());
  if (geometry.stride < 1 || geometry.padding < 0 || geometry.groups < 1 || shape_[0] % geometry.groups != 0)
    fail("{}: invalid convolution geometry (stride {}, padding {}, groups {})", weight.name, geometry.stride,
         geometry.padding, geometry.groups);
  const auto rows = nm_rows(weight);
  pack_channels_last(weight, rows, geometry.groups, channels_last_);
  nnz_ = rows.nnz;
  values_ = rows.values;
  const int64_t cin = shape_[1], kh = shape_[2], kw = shape_[3];
  const int64_t out_per_group = shape_[0] / geometry.groups;
  const int64_t s = geometry.stride;
  for (auto* v : {&channel_, &phase_, &dy_, &dx_}) v->resize(rows.position.size());
  for (size_t i = 0; i < rows.position.size(); ++i) {
    const int64_t p = rows.position[i], row = static_cast<int64_t>(i) / nnz_;
    // The position inside a row follows the layout: NHWC (kh, kw, c), NCHW (c, kh, kw).
    const int64_t c = weight.layout == Layout::NHWC ? p % cin : p / (kh * kw);
    const int64_t tap = weight.layout == Layout::NHWC ? p / cin : p % (kh * kw);
    channel_[i] = static_cast<int32_t>((row / out_per_group) * cin + c);
    const int64_t y = tap / kw, x = tap % kw;
    phase_[i] = static_cast<int32_t>((y % s) * std::min(kw, s) + x % s);
    dy_[i] = static_cast<int32_t>(y / s);
    dx_[i] = static_cast<int32_t>(x / s);
  }
  sort_rows_by_address();
  bias_ = bias_vector(weight.name, bias, shape_[0]);
  offsets_ = std::make_shared<OffsetCache>();
}

// Each row's kept weights in the order of the input addresses they read (phase, channel,
// tap): neighbouring weights then read neighbouring memory (up to a quarter faster in a
// micro-benchmark of the kernel). Only the summation order changes.
void NmConv2d::sort_rows_by_address() {
  const int64_t channels = shape_[1] * geometry_.groups, kh = shape_[2], kw = shape_[3];
  std::vector<int64_t> order(static_cast<size_t>(nnz_)), key(static_cast<size_t>(nnz_));
  std::vector<float> values(values_.size());
  std::vector<int32_t> channel(channel_.size()), phase(phase_.size()), dy(dy_.size()), dx(dx_.size());
  for (int64_t row = 0; row < shape_[0]; ++row) {
    const int64_t base = row * nnz_;
    for (int64_t k = 0; k < nnz_; ++k) {
      const int64_t i = base + k;
      key[k] = ((static_cast<int64_t>(phase_[i]) * channels + channel_[i]) * kh + dy_[i]) * kw + dx_[i];
      order[k] = k;
    }
    std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return key[a] < key[b]; });
    for (int64_t k = 0; k < nnz_; ++k) {
      const int64_t from = base + order[k], to = base + k;
      values[to] = values_[from];
      channel[to] = channel_[from];
      phase[to] = phase_[from];
      dy[to] = dy_[from];
      dx[to] = dx_[from];
    }
  }
  values_.swap(values);
  channel_.swap(channel);
  phase_.swap(phase);
  dy_.swap(dy);
  dx_.swap(dx);
}

std::vector<int32_t> NmConv2d::offsets_for(int64_t h, int64_t w) const {
  const auto l = input_layout(shape_[1] * geometry_.groups, h, w, shape_[2], shape_[3], geometry_.stride, geometry_.padding);
  std::vector<int32_t> offsets(channel_.size());
  for (size_t i = 0; i < channel_.size(); ++i)
    offsets[i] = static_cast<int32_t>(phase_[i] * l.phase_stride + channel_[i] * l.plane + dy_[i] * l.wh + dx_[i]);
  return offsets;
}

bool NmConv2d::runs_channels_last() const {
  return channels_last_.values.defined() && channels_last_kernel() && active_isa() == Isa::Avx512;
}

at::Tensor NmConv2d::forward(const at::Tensor& input, bool relu, const at::Tensor& residual) const {
  const int64_t channels = shape_[1] * geometry_.groups;
  if (input.dim() != 4 || input.size(1) != channels)
    fail("N:M convolution: expected input [B, {}, H, W], got {}", channels, shape_str(input.sizes()));
  if (!input.is_cpu()) fail("N:M convolution: the engine runs on the CPU, the input is on {}", input.device().str());
  if (input.size(2) + 2 * geometry_.padding < shape_[2] || input.size(3) + 2 * geometry_.padding < shape_[3])
    fail("N:M convolution: input {}x{} is smaller than the kernel", input.size(2), input.size(3));
  const int64_t ho = conv_out(input.size(2), shape_[2], geometry_.padding, geometry_.stride);
  const int64_t wo = conv_out(input.size(3), shape_[3], geometry_.padding, geometry_.stride);
  if (residual.defined() && residual.sizes() != at::IntArrayRef{input.size(0), shape_[0], ho, wo})
    fail("N:M convolution: the residual is {}, the output [{}, {}, {}, {}]", shape_str(residual.sizes()), input.size(0),
         shape_[0], ho, wo);
  if (runs_channels_last()) return forward_channels_last(input, relu, residual);
  // The row kernel has no residual in its epilogue: added after it.
  if (residual.defined()) {
    auto out = forward(input, false).add_(residual);
    return relu ? out.relu_() : out;
  }
  const auto x = input.to(torch::kFloat).contiguous();
  const int64_t batch = x.size(0), h = x.size(2), w = x.size(3), pad = geometry_.padding;
  const auto l = input_layout(channels, h, w, shape_[2], shape_[3], geometry_.stride, pad);
  if (l.image_stride > std::numeric_limits<int32_t>::max()) fail("N:M convolution: input too large for 32-bit offsets");

  const float* images = x.data_ptr<float>();
  if (!l.in_place) {
    float* buffer = scratch(0, batch * l.image_stride);
    lay_out(x.data_ptr<float>(), buffer, batch, l);
    images = buffer;
  }
  const auto offsets = offsets_->get(h, w, [&] { return offsets_for(h, w); });

  // The wide output (Wh columns a row) goes straight to the result when Wh = Wo.
  const int64_t cout = shape_[0], q = l.ho * l.wh;
  auto out = torch::empty({batch, cout, (h + 2 * pad - shape_[2]) / l.s + 1, (w + 2 * pad - shape_[3]) / l.s + 1},
                          torch::kFloat);
  float* wide = l.wh == l.wo ? out.data_ptr<float>() : scratch(1, batch * cout * q);
  std::vector<SpmmTask> tasks(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b)
    tasks[b] = SpmmTask{images + b * l.image_stride, offsets->data(), values_.data(),
                        bias_.empty() ? nullptr : bias_.data(), wide + b * cout * q, q, nnz_, q, relu};
  run_spmm(tasks.data(), batch, cout);
  if (l.wh != l.wo) {
    float* dst = out.data_ptr<float>();
    at::parallel_for(0, batch * cout * l.ho, 4096 / l.wo + 1, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) std::copy_n(wide + row * l.wh, l.wo, dst + row * l.wo);
    });
  }
  return out;
}

// The channels-last kernel: the input as NHWC, read in place (the kernel skips the taps on
// the padding), the output channels-last. Work is split by image (or group of small images),
// band of output rows (of pixels, for a 1x1 convolution read as one row) and run of blocks of
// 16 output channels.
at::Tensor NmConv2d::forward_channels_last(const at::Tensor& input, bool relu, const at::Tensor& residual) const {
  const auto x = input.to(torch::kFloat).contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t batch = x.size(0), channels = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t pad = geometry_.padding, s = geometry_.stride, kh = shape_[2], kw = shape_[3];
  const int64_t ho = conv_out(h, kh, pad, s), wo = conv_out(w, kw, pad, s);
  const int64_t cin = shape_[1], cout = shape_[0];
  auto out = torch::empty({batch, cout, ho, wo}, torch::TensorOptions(torch::kFloat).memory_format(at::MemoryFormat::ChannelsLast));
  NhwcConvTask task;
  // A 1x1 convolution of stride 1 without padding reads its pixels as one row: longer tiles.
  // Where a block keeps 8 or more weights of a chunk, the whole batch's pixels are one row,
  // so that tiles run on across the images' ends (7 x 7 images: tiles of 16, not 12-13): at
  // 8:16, 1.05-1.15x on 7 x 7 and 14 x 14 at batch 8 and 32; at 2:16 and 4:16 no better
  // (docs/benchmarks.md, 2026-12-03, seventh session).
  const bool flat = kh == 1 && kw == 1 && s == 1 && pad == 0;
  const bool flat_batch = flat && channels_last_.k >= 8;
  const int64_t images = flat_batch ? 1 : batch, image_pixels = flat_batch ? batch * h * w : h * w;
  task.x = x.data_ptr<float>();
  task.h = flat ? 1 : h;
  task.w = flat ? image_pixels : w;
  task.channels = channels;
  task.kh = kh;
  task.kw = kw;
  task.stride = s;
  task.pad = pad;
  const int64_t per_tap = cin / kNhwcBlock, chunks = kh * kw * per_tap;
  std::vector<int64_t> chunk_offset(static_cast<size_t>(chunks));
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t tap = c / per_tap;
    chunk_offset[c] = ((tap / kw - pad) * task.w + tap % kw - pad) * channels + (c % per_tap) * kNhwcBlock;
  }
  task.chunk_offset = chunk_offset.data();
  task.chunks = chunks;
  task.k = channels_last_.k;
  task.values = channels_last_.values.data_ptr<float>();
  task.group_out = cout / geometry_.groups;
  task.group_in = cin;
  task.bias = bias_.empty() ? nullptr : bias_.data();
  task.y = out.data_ptr<float>();
  task.ho = flat ? 1 : ho;
  task.wo = flat ? image_pixels : wo;
  task.cout = cout;
  task.relu = relu;
  // The residual in the output's layout (a block's shortcut already is: an engine output or
  // the block's channels-last input).
  const auto shortcut = residual.defined() ? residual.to(torch::kFloat).contiguous(at::MemoryFormat::ChannelsLast) : at::Tensor();
  task.residual = shortcut.defined() ? shortcut.data_ptr<float>() : nullptr;
  task.stream = nhwc_streams(out.numel() * static_cast<int64_t>(sizeof(float))) && cout % kNhwcBlock == 0 &&
                reinterpret_cast<uintptr_t>(task.y) % 64 == 0;
  task.prefetch = nhwc_prefetches(x.numel() * static_cast<int64_t>(sizeof(float)), at::get_num_threads());
  // Tiles across images: for images of at most 8 x 8 outputs (more than a quarter of their
  // pixels on the border, so their row tiles are short) at a batch of at least a tile, or
  // half a tile where a block keeps 3 or more weights of a chunk, each output position's
  // pixels of up to `tile` images form one tile. Not at 1:16-like k = 1 (slower, in pairs of
  // blocks and again in fours with prefetching: docs/engine.md), nor on 14 x 14 images
  // (slower at every N); at batch 8 on 7 x 7 faster at 4:16 and 8:16, not at 2:16; at batch
  // 4 slower: docs/benchmarks.md.
  const int64_t tile = nhwc_tile_pixels(task.k, nhwc_blocks_per_call(task.k));
  const int64_t least = task.k >= 3 ? (tile + 1) / 2 : tile;
  const bool across = !flat && task.k >= 2 && ho <= 8 && wo <= 8 && batch >= least;
  const int64_t per_group = across ? tile : 1, image_groups = (images + per_group - 1) / per_group;
  // Bands of output pixels whose input and output (~256 KiB each at most, over a group's
  // images) stay in cache while the blocks' weights stream past: whole rows, or pixels of the
  // one flat row.
  const int64_t per_pixel = std::max(channels * s * s, cout) * static_cast<int64_t>(sizeof(float)) * per_group;
  constexpr int64_t kBandBytes = 256 * 1024;
  const int64_t band_pixels = std::max<int64_t>(16, kBandBytes / per_pixel);
  // Bands of equal size (to a row or pixel): a short last band costs a full band's weight
  // reads, and at batch 1 left one thread with most of the work (docs/benchmarks.md).
  const int64_t extent = flat ? task.wo : ho;  // pixels of the one row, or rows
  const int64_t most = flat ? std::min(task.wo, band_pixels) : std::clamp<int64_t>(band_pixels / wo, 1, ho);
  int64_t bands = (extent + most - 1) / most;
  // Work items: (image or group of images, band, run of blocks in one convolution group). A
  // pixel tile runs all its item's blocks while its input is in the L1 cache, and writes their
  // outputs side by side; so an item takes as many blocks as keep their weights in the L2
  // cache (128 KiB), while there are at least 4 items a thread. Measured against items of one
  // pair of blocks (docs/benchmarks.md, 2026-12-01 late): faster on most layers, most on 1x1
  // layers.
  constexpr int64_t kWeightBytes = 128 * 1024;
  const int64_t group_blocks = task.group_out / kNhwcBlock, groups = geometry_.groups;
  const int64_t block_bytes = chunks * task.k * kNhwcBlock * static_cast<int64_t>(sizeof(float));
  const int64_t others = image_groups * bands * groups;
  const int64_t runs_wanted = (4 * at::get_num_threads() + others - 1) / others;  // runs a group, for the threads
  const int64_t together = std::min(group_blocks, nhwc_blocks_per_call(task.k));  // blocks a call
  int64_t per_item = std::min(kWeightBytes / block_bytes, (group_blocks + runs_wanted - 1) / runs_wanted);
  per_item = std::clamp(per_item - per_item % together, together, group_blocks);  // whole calls
  const int64_t runs = (group_blocks + per_item - 1) / per_item, calls = groups * runs;
  // Few items (batch 1): a band or so more where that shares them evenly among the threads.
  // layer1.conv3 at batch 1 ran 13 items, 7 on one thread and 6 on the other; in 14 bands
  // it runs 1.08-1.37x faster by N, 17-19 us less at every N (more than the imbalance alone
  // explains; docs/benchmarks.md, 2026-12-03, seventh session).
  const int64_t threads = at::get_num_threads(), per_band = image_groups * calls;
  if (per_band * bands < 16 * threads)
    while ((per_band * bands) % threads != 0 && bands < extent) ++bands;
  const auto band_begin = [&](int64_t i) { return extent * i / bands; };
  at::parallel_for(0, image_groups * bands * calls, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t b = i / (bands * calls) * per_group, band = (i / calls) % bands, call = i % calls;
      const int64_t first = band_begin(band), last = band_begin(band + 1);
      const int64_t block = call / runs * group_blocks + call % runs * per_item;
      const int64_t blocks = std::min(per_item, group_blocks - call % runs * per_item);
#if defined(__x86_64__)
      if (across)
        nhwc_conv_images_avx512(task, b, std::min(per_group, batch - b), block, blocks, first, last);
      else if (flat)
        nhwc_conv_avx512(task, b, block, blocks, 0, 1, first, last);
      else
        nhwc_conv_avx512(task, b, block, blocks, first, last, 0, wo);
#endif
    }
  });
  return out;
}

}  // namespace domino::engine
