# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""
Fused CPU kernels for TAM, compiled on first use, with the pure-PyTorch formulation as fallback.

TAM adds 0.2% of ResNet-50's multiply-adds, but in eager PyTorch its memory-bound passes (the squeeze, a multiply
and `K - 1` in-place `addcmul_` for the aggregation, a product and a reduction per tap for the weight gradient)
and ~20 small branch operations per TAM cost several times that. The C functions here cut the passes over memory
to what the data flow needs:

- [`aggregate`]: `Y[:, t] = Σ_k W[:, t, k] ⊙ X[:, t + k - p]` in one pass (each output row written once from its
  `K` source rows), optionally `+ bias` per `(b, t, c)` and masked by a ReLU output — with the transposed weights,
  the squeeze's gradient and the ReLU output, that is TAM's input gradient through the ReLU before it, in one pass;
  [`aggregate_`] the same in place (a ring buffer of `K // 2` rows);
- [`correlate`]: the weight gradient, `K` dot products per row sharing one read of `dY`;
- [`relu_and_spatial_sum_`]: the block's ReLU and TAM's squeeze in one pass (training);
- [`tam_inference_`]: a whole TAM after its ReLU in inference, in one call: the squeeze reads the pre-activation,
  both branches run in C (eval-mode BatchNorm), and the in-place aggregation rectifies as it reads — the block's
  tensor is read twice and written once, where a ReLU alone reads and writes it once.

The source is compiled with the system C compiler (`$CC`, else `cc`/`gcc`) into a shared library cached under
`$TANET_HF_CACHE` (default `~/.cache/tanet_hf`) and loaded with `ctypes`: no torch headers, so compiling takes
about a second, and the library uses the OpenMP runtime that PyTorch already loaded (the same thread pool, sized by
`torch.get_num_threads()`). Every function returns `None`/`False` — and the caller uses its PyTorch formulation —
where no compiler is found or compiling fails (one warning), with `TANET_HF_CPU_KERNEL=0`, while `torch.compile`
or `torch.export` trace, under a dispatch mode (`FlopCounterMode`, fake tensors), for tensor subclasses, and for
anything but float32/float64 CPU tensors in the contiguous or channels-last layout. `tests/test_tam_cpu_kernel.py`
compares every function and whole networks (training and inference) with the PyTorch path.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

try:  # a private helper; without it, the kernels would also run under FLOP counters (which then miss TAM's matmuls)
    from torch.utils._python_dispatch import _get_current_dispatch_mode
except ImportError:  # pragma: no cover

    def _get_current_dispatch_mode() -> None:
        return None


logger = logging.getLogger(__name__)

_SOURCE = r"""
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

/* Layouts: "nchw" is X[b][t][c][s] (s = h * W + w, the contiguous (B*T, C, H, W) tensor), "nhwc" is X[b][t][s][c]
   (channels-last). Weights W[b][t][k][c]. Taps outside [0, T) are zero padding. The aggregation optionally adds a
   per-(b, t, c) `bias` and then zeroes where `mask` <= 0 (NULL: neither): with the transposed weights, the squeeze's
   gradient as bias and the ReLU output as mask, that is TAM's input gradient through the ReLU before it, in one pass. */

#define DEFINE_KERNELS(scalar, suffix)                                                                            \
void tam_aggregate_nchw_##suffix(const scalar *restrict x, const scalar *restrict w, const scalar *restrict bias, \
                                 const scalar *restrict mask, scalar *restrict y, int64_t B, int64_t T,         \
                                 int64_t C, int64_t S, int64_t K, int transposed, int threads) {               \
    const int64_t p = K / 2, rows = B * T * C;                                                                  \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t row = 0; row < rows; ++row) {                                                                  \
        const int64_t c = row % C, bt = row / C, t = bt % T, b = bt / T;                                        \
        scalar *restrict out = y + row * S;                                                                     \
        int first = 1;                                                                                          \
        for (int64_t k = 0; k < K; ++k) {                                                                       \
            const int64_t src = t + k - p;                                                                      \
            if (src < 0 || src >= T) continue;                                                                  \
            /* transposed: the adjoint's weights, W'[t][k] = W[t + k - p][K - 1 - k] */                          \
            const scalar scale = transposed ? w[((b * T + src) * K + (K - 1 - k)) * C + c]                      \
                                            : w[((b * T + t) * K + k) * C + c];                                 \
            const scalar *restrict in = x + ((b * T + src) * C + c) * S;                                        \
            if (first) { for (int64_t s = 0; s < S; ++s) out[s] = scale * in[s]; first = 0; }                 \
            else { for (int64_t s = 0; s < S; ++s) out[s] += scale * in[s]; }                                  \
        }                                                                                                       \
        if (first) memset(out, 0, (size_t)S * sizeof(scalar));                                                  \
        if (bias) { const scalar shift = bias[row]; for (int64_t s = 0; s < S; ++s) out[s] += shift; }          \
        if (mask) { const scalar *restrict m = mask + row * S;                                                  \
                    for (int64_t s = 0; s < S; ++s) out[s] = m[s] > 0 ? out[s] : 0; }                          \
    }                                                                                                           \
}                                                                                                               \
void tam_aggregate_nhwc_##suffix(const scalar *restrict x, const scalar *restrict w, const scalar *restrict bias, \
                                 const scalar *restrict mask, scalar *restrict y, int64_t B, int64_t T,         \
                                 int64_t C, int64_t S, int64_t K, int transposed, int threads) {               \
    const int64_t p = K / 2, pixels = B * T * S;                                                                \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t pixel = 0; pixel < pixels; ++pixel) {                                                          \
        const int64_t s = pixel % S, bt = pixel / S, t = bt % T, b = bt / T;                                    \
        scalar *restrict out = y + pixel * C;                                                                   \
        int first = 1;                                                                                          \
        for (int64_t k = 0; k < K; ++k) {                                                                       \
            const int64_t src = t + k - p;                                                                      \
            if (src < 0 || src >= T) continue;                                                                  \
            const scalar *restrict scale = transposed ? w + ((b * T + src) * K + (K - 1 - k)) * C               \
                                                      : w + ((b * T + t) * K + k) * C;                          \
            const scalar *restrict in = x + ((b * T + src) * S + s) * C;                                        \
            if (first) { for (int64_t c = 0; c < C; ++c) out[c] = scale[c] * in[c]; first = 0; }              \
            else { for (int64_t c = 0; c < C; ++c) out[c] += scale[c] * in[c]; }                               \
        }                                                                                                       \
        if (first) memset(out, 0, (size_t)C * sizeof(scalar));                                                  \
        if (bias) { const scalar *restrict shift = bias + bt * C; for (int64_t c = 0; c < C; ++c) out[c] += shift[c]; } \
        if (mask) { const scalar *restrict m = mask + pixel * C;                                                \
                    for (int64_t c = 0; c < C; ++c) out[c] = m[c] > 0 ? out[c] : 0; }                          \
    }                                                                                                           \
}                                                                                                               \
/* In place: X[b][t] <- sum_k W[b][t][k] * X_old[b][t+k-p], walking t upwards and keeping the p previous original
   rows of each (b, c) (or (b, s) pixel) in a ring buffer: one read and one write of X, no output allocation. */ \
void tam_aggregate_inplace_nchw_##suffix(scalar *restrict x, const scalar *restrict w, int64_t B, int64_t T,    \
                                         int64_t C, int64_t S, int64_t K, int rectify, int threads) {          \
    const int64_t p = K / 2, pairs = B * C;                                                                     \
    _Pragma("omp parallel num_threads(threads)")                                                                \
    {                                                                                                           \
        scalar *ring = (scalar *)malloc((size_t)(p + 1) * (size_t)S * sizeof(scalar));                          \
        _Pragma("omp for schedule(static)")                                                                     \
        for (int64_t pair = 0; pair < pairs; ++pair) {                                                          \
            const int64_t c = pair % C, b = pair / C;                                                           \
            for (int64_t t = 0; t < T; ++t) {                                                                   \
                scalar *restrict row = x + ((b * T + t) * C + c) * S;                                           \
                scalar *restrict keep = ring + (t % (p + 1)) * S; /* X_old[t], needed by rows t+1 .. t+p */     \
                if (rectify) { for (int64_t s = 0; s < S; ++s) keep[s] = row[s] < 0 ? 0 : row[s]; }            \
                else memcpy(keep, row, (size_t)S * sizeof(scalar));                                            \
                int first = 1;                                                                                  \
                for (int64_t k = 0; k < K; ++k) {                                                               \
                    const int64_t src = t + k - p;                                                             \
                    if (src < 0 || src >= T) continue;                                                          \
                    const scalar scale = w[((b * T + t) * K + k) * C + c];                                      \
                    const scalar *restrict in = src <= t ? ring + (src % (p + 1)) * S                           \
                                                         : x + ((b * T + src) * C + c) * S;                     \
                    if (rectify && src > t) { /* a later frame, not yet rectified in memory */                  \
                        if (first) { for (int64_t s = 0; s < S; ++s) row[s] = scale * (in[s] < 0 ? 0 : in[s]); }  \
                        else { for (int64_t s = 0; s < S; ++s) row[s] += scale * (in[s] < 0 ? 0 : in[s]); }       \
                        first = 0;                                                                              \
                    } else if (first) { for (int64_t s = 0; s < S; ++s) row[s] = scale * in[s]; first = 0; }   \
                    else { for (int64_t s = 0; s < S; ++s) row[s] += scale * in[s]; }                          \
                }                                                                                               \
                if (first) memset(row, 0, (size_t)S * sizeof(scalar));                                          \
            }                                                                                                   \
        }                                                                                                       \
        free(ring);                                                                                             \
    }                                                                                                           \
}                                                                                                               \
void tam_aggregate_inplace_nhwc_##suffix(scalar *restrict x, const scalar *restrict w, int64_t B, int64_t T,    \
                                         int64_t C, int64_t S, int64_t K, int rectify, int threads) {          \
    const int64_t p = K / 2, pairs = B * S;                                                                     \
    _Pragma("omp parallel num_threads(threads)")                                                                \
    {                                                                                                           \
        scalar *ring = (scalar *)malloc((size_t)(p + 1) * (size_t)C * sizeof(scalar));                          \
        _Pragma("omp for schedule(static)")                                                                     \
        for (int64_t pair = 0; pair < pairs; ++pair) {                                                          \
            const int64_t s = pair % S, b = pair / S;                                                           \
            for (int64_t t = 0; t < T; ++t) {                                                                   \
                scalar *restrict row = x + ((b * T + t) * S + s) * C;                                           \
                scalar *restrict keep = ring + (t % (p + 1)) * C;                                               \
                if (rectify) { for (int64_t c = 0; c < C; ++c) keep[c] = row[c] < 0 ? 0 : row[c]; }            \
                else memcpy(keep, row, (size_t)C * sizeof(scalar));                                            \
                int first = 1;                                                                                  \
                for (int64_t k = 0; k < K; ++k) {                                                               \
                    const int64_t src = t + k - p;                                                             \
                    if (src < 0 || src >= T) continue;                                                          \
                    const scalar *restrict scale = w + ((b * T + t) * K + k) * C;                               \
                    const scalar *restrict in = src <= t ? ring + (src % (p + 1)) * C                           \
                                                         : x + ((b * T + src) * S + s) * C;                     \
                    if (rectify && src > t) { /* a later frame, not yet rectified in memory */                  \
                        if (first) { for (int64_t c = 0; c < C; ++c) row[c] = scale[c] * (in[c] < 0 ? 0 : in[c]); } \
                        else { for (int64_t c = 0; c < C; ++c) row[c] += scale[c] * (in[c] < 0 ? 0 : in[c]); }      \
                        first = 0;                                                                              \
                    } else if (first) { for (int64_t c = 0; c < C; ++c) row[c] = scale[c] * in[c]; first = 0; } \
                    else { for (int64_t c = 0; c < C; ++c) row[c] += scale[c] * in[c]; }                       \
                }                                                                                               \
                if (first) memset(row, 0, (size_t)C * sizeof(scalar));                                          \
            }                                                                                                   \
        }                                                                                                       \
        free(ring);                                                                                             \
    }                                                                                                           \
}                                                                                                               \
/* In place: X <- max(X, 0), and sums[b][t][c] = sum_s X[b][t][c][s] of the result (TAM's squeeze, fused into the  \
   ReLU that precedes it: the squeeze then costs no pass over memory of its own). */                            \
void tam_relu_sum_nchw_##suffix(scalar *restrict x, scalar *restrict sums, int64_t rows, int64_t S, int store,  \
                                int threads) {                                                                  \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t row = 0; row < rows; ++row) {                                                                  \
        scalar *restrict values = x + row * S;                                                                  \
        scalar acc = 0;                                                                                         \
        if (store) { /* NaN stays NaN, as in torch.relu */                                                       \
            _Pragma("omp simd reduction(+:acc)")                                                                \
            for (int64_t s = 0; s < S; ++s) { const scalar v = values[s] < 0 ? 0 : values[s]; values[s] = v; acc += v; } \
        } else {                                                                                                \
            _Pragma("omp simd reduction(+:acc)")                                                                \
            for (int64_t s = 0; s < S; ++s) acc += values[s] < 0 ? 0 : values[s];                              \
        }                                                                                                       \
        sums[row] = acc;                                                                                        \
    }                                                                                                           \
}                                                                                                               \
void tam_relu_sum_nhwc_##suffix(scalar *restrict x, scalar *restrict sums, int64_t frames, int64_t S, int64_t C, \
                                int store, int threads) {                                                       \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t frame = 0; frame < frames; ++frame) {                                                          \
        scalar *restrict acc = sums + frame * C;                                                                \
        for (int64_t c = 0; c < C; ++c) acc[c] = 0;                                                             \
        for (int64_t s = 0; s < S; ++s) {                                                                       \
            scalar *restrict values = x + (frame * S + s) * C;                                                  \
            if (store) { for (int64_t c = 0; c < C; ++c) { const scalar v = values[c] < 0 ? 0 : values[c]; values[c] = v; acc[c] += v; } } \
            else { for (int64_t c = 0; c < C; ++c) acc[c] += values[c] < 0 ? 0 : values[c]; }                 \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \
/* dW[b][t][k][c] = sum_s dY[b][t][c][s] * X[b][t+k-p][c][s] */                                                 \
void tam_correlate_nchw_##suffix(const scalar *restrict dy, const scalar *restrict x, scalar *restrict dw,      \
                                 int64_t B, int64_t T, int64_t C, int64_t S, int64_t K, int threads) {         \
    const int64_t p = K / 2, rows = B * T * C;                                                                  \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t row = 0; row < rows; ++row) {                                                                  \
        const int64_t c = row % C, bt = row / C, t = bt % T, b = bt / T;                                        \
        const scalar *restrict grad = dy + row * S;                                                             \
        for (int64_t k = 0; k < K; ++k) {                                                                       \
            const int64_t src = t + k - p;                                                                      \
            scalar acc = 0;                                                                                     \
            if (src >= 0 && src < T) {                                                                          \
                const scalar *restrict in = x + ((b * T + src) * C + c) * S;                                    \
                _Pragma("omp simd reduction(+:acc)")                                                            \
                for (int64_t s = 0; s < S; ++s) acc += grad[s] * in[s];                                         \
            }                                                                                                   \
            dw[((b * T + t) * K + k) * C + c] = acc;                                                            \
        }                                                                                                       \
    }                                                                                                           \
}                                                                                                               \
void tam_correlate_nhwc_##suffix(const scalar *restrict dy, const scalar *restrict x, scalar *restrict dw,      \
                                 int64_t B, int64_t T, int64_t C, int64_t S, int64_t K, int threads) {         \
    const int64_t p = K / 2, block = 64, blocks = (C + block - 1) / block, tasks = B * T * blocks;              \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t task = 0; task < tasks; ++task) {                                                              \
        const int64_t cb = task % blocks, bt = task / blocks, t = bt % T, b = bt / T;                           \
        const int64_t c0 = cb * block, c1 = c0 + block < C ? c0 + block : C;                                    \
        for (int64_t k = 0; k < K; ++k) {                                                                       \
            scalar *restrict acc = dw + ((b * T + t) * K + k) * C;                                              \
            for (int64_t c = c0; c < c1; ++c) acc[c] = 0;                                                       \
            const int64_t src = t + k - p;                                                                      \
            if (src < 0 || src >= T) continue;                                                                  \
            for (int64_t s = 0; s < S; ++s) {                                                                   \
                const scalar *restrict grad = dy + ((b * T + t) * S + s) * C;                                   \
                const scalar *restrict in = x + ((b * T + src) * S + s) * C;                                    \
                for (int64_t c = c0; c < c1; ++c) acc[c] += grad[c] * in[c];                                    \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
}

DEFINE_KERNELS(float, f32)
DEFINE_KERNELS(double, f64)
"""

# A whole TAM in inference, in one call: ReLU + squeeze, both branches (BatchNorm with running statistics), the
# folding of Θ and V into per-position weights, and the in-place aggregation. Written once, instantiated per
# dtype and layout below (the branch matrices are small: dot products over contiguous rows vectorise well).
_EVAL_TEMPLATE = r"""
static inline scalar tam_bn_SUFFIX(scalar value, int64_t i, const scalar *mean, const scalar *var,
                                   const scalar *gamma, const scalar *beta, double eps) {
    value = (value - mean[i]) / (scalar)sqrt((double)var[i] + eps);
    if (gamma) value *= gamma[i];
    if (beta) value += beta[i];
    return value;
}

void tam_eval_LAYOUT_SUFFIX(
        scalar *restrict x, int64_t B, int64_t T, int64_t C, int64_t S, int64_t K,
        const scalar *g_w1, int64_t H1, const scalar *g_mean, const scalar *g_var, const scalar *g_gamma,
        const scalar *g_beta, double g_eps, const scalar *g_w2,
        const scalar *l_w1, int64_t R, int64_t LK, const scalar *l_mean, const scalar *l_var, const scalar *l_gamma,
        const scalar *l_beta, double l_eps, const scalar *l_w2, int local_first, int threads) {
    const int64_t p = K / 2, lp = LK / 2;
    scalar *squeezed = (scalar *)malloc((size_t)(B * T * C) * sizeof(scalar));
    scalar *theta = (scalar *)malloc((size_t)(B * K * C) * sizeof(scalar));
    scalar *importance = l_w1 ? (scalar *)malloc((size_t)(B * T * C) * sizeof(scalar)) : NULL;
    scalar *weights = (scalar *)malloc((size_t)(B * T * K * C) * sizeof(scalar));
    RELU_SUM_CALL;
    const scalar inv_area = (scalar)1 / (scalar)S;
    for (int64_t i = 0; i < B * T * C; ++i) squeezed[i] *= inv_area;
    /* global branch: one (T,) row per (b, c) -> softmax over K */
    #pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t bc = 0; bc < B * C; ++bc) {
        const int64_t b = bc / C, c = bc % C;
        scalar hidden[H1 > 0 ? H1 : 1], logits[K > 0 ? K : 1], top = -1e30, total = 0;
        for (int64_t j = 0; j < H1; ++j) {
            scalar acc = 0;
            for (int64_t t = 0; t < T; ++t) acc += g_w1[j * T + t] * squeezed[(b * T + t) * C + c];
            acc = tam_bn_SUFFIX(acc, j, g_mean, g_var, g_gamma, g_beta, g_eps);
            hidden[j] = acc > 0 ? acc : 0;
        }
        for (int64_t k = 0; k < K; ++k) {
            scalar acc = 0;
            for (int64_t j = 0; j < H1; ++j) acc += g_w2[k * H1 + j] * hidden[j];
            logits[k] = acc;
            if (acc > top) top = acc;
        }
        for (int64_t k = 0; k < K; ++k) { logits[k] = (scalar)exp((double)(logits[k] - top)); total += logits[k]; }
        for (int64_t k = 0; k < K; ++k) theta[(b * K + k) * C + c] = logits[k] / total;
    }
    /* local branch: one (C * LK,) window per (b, t) -> R hidden units -> C gates; loops over the weight rows
       outermost, so that each row is read once for all B * T windows (they stay in cache, the weights stream) */
    if (l_w1) {
        const int64_t frames = B * T, width = C * LK;
        scalar *windows = (scalar *)malloc((size_t)(frames * width) * sizeof(scalar));
        scalar *hidden = (scalar *)malloc((size_t)(frames * R) * sizeof(scalar));
        for (int64_t bt = 0; bt < frames; ++bt) {
            const int64_t b = bt / T, t = bt % T;
            for (int64_t c = 0; c < C; ++c)
                for (int64_t k = 0; k < LK; ++k) {
                    const int64_t src = t + k - lp;
                    windows[bt * width + c * LK + k] = (src >= 0 && src < T) ? squeezed[(b * T + src) * C + c] : 0;
                }
        }
        #pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t r = 0; r < R; ++r) {
            const scalar *restrict row = l_w1 + r * width;
            for (int64_t bt = 0; bt < frames; ++bt) {
                const scalar *restrict window = windows + bt * width;
                scalar acc = 0;
                #pragma omp simd reduction(+:acc)
                for (int64_t i = 0; i < width; ++i) acc += row[i] * window[i];
                acc = tam_bn_SUFFIX(acc, r, l_mean, l_var, l_gamma, l_beta, l_eps);
                hidden[bt * R + r] = acc > 0 ? acc : 0;
            }
        }
        #pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t c = 0; c < C; ++c) {
            const scalar *restrict row = l_w2 + c * R;
            for (int64_t bt = 0; bt < frames; ++bt) {
                const scalar *restrict units = hidden + bt * R;
                scalar acc = 0;
                #pragma omp simd reduction(+:acc)
                for (int64_t r = 0; r < R; ++r) acc += row[r] * units[r];
                importance[bt * C + c] = (scalar)1 / ((scalar)1 + (scalar)exp(-(double)acc));
            }
        }
        free(windows);
        free(hidden);
    }
    /* per-position weights W[b][t][k][c] */
    for (int64_t b = 0; b < B; ++b)
        for (int64_t t = 0; t < T; ++t)
            for (int64_t k = 0; k < K; ++k) {
                scalar *restrict out = weights + ((b * T + t) * K + k) * C;
                const scalar *restrict th = theta + (b * K + k) * C;
                const int64_t src = local_first ? t + k - p : t;
                if (!importance) { for (int64_t c = 0; c < C; ++c) out[c] = th[c]; }
                else if (src < 0 || src >= T) { for (int64_t c = 0; c < C; ++c) out[c] = 0; }
                else { const scalar *restrict v = importance + (b * T + src) * C;
                       for (int64_t c = 0; c < C; ++c) out[c] = th[c] * v[c]; }
            }
    /* the ReLU is applied as the aggregation reads X: X is read twice and written once in all */
    tam_aggregate_inplace_LAYOUT_SUFFIX(x, weights, B, T, C, S, K, 1, threads);
    free(squeezed); free(theta); free(importance); free(weights);
}
"""


def _eval_source() -> str:
    parts = ["#include <math.h>"]
    for scalar, suffix in (("float", "f32"), ("double", "f64")):
        for layout, relu_sum in (
            ("nchw", f"tam_relu_sum_nchw_{suffix}(x, squeezed, B * T * C, S, 0, threads)"),
            ("nhwc", f"tam_relu_sum_nhwc_{suffix}(x, squeezed, B * T, S, C, 0, threads)"),
        ):
            code = _EVAL_TEMPLATE.replace("RELU_SUM_CALL", relu_sum).replace("LAYOUT", layout)
            code = code.replace("SUFFIX", suffix).replace("scalar", scalar)
            if layout == "nhwc":  # the BatchNorm helper is shared by both layouts
                code = code[code.index("void tam_eval_") :]
            parts.append(code)
    return "\n".join(parts)


_SOURCE += _eval_source()

_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c99", "-fno-math-errno"]
_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_library: ctypes.CDLL | None = None
_load_attempted = False
_load_lock = threading.Lock()


def _cache_dir() -> Path:
    if os.environ.get("TANET_HF_CACHE"):
        return Path(os.environ["TANET_HF_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tanet_hf"


def _compiler() -> str | None:
    for candidate in (os.environ.get("CC"), "cc", "gcc"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def _cpu_signature() -> str:
    """What `-march=native` depends on: the CPU model and its feature flags (Linux), else the platform string."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [line for line in info.splitlines() if line.startswith(("model name", "flags"))][:2]
        return "\n".join(lines)
    except OSError:
        return platform.platform() + platform.processor()


def _compile(compiler: str) -> Path:
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, check=True).stdout
    key = hashlib.sha256("\0".join([_SOURCE, " ".join(_FLAGS), version, _cpu_signature()]).encode()).hexdigest()
    target = _cache_dir() / "kernels" / f"tam_cpu_{key[:20]}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        source = Path(work) / "tam_cpu.c"
        source.write_text(_SOURCE)
        built = Path(work) / target.name
        for flags in (_FLAGS, [flag for flag in _FLAGS if flag != "-march=native"]):  # some compilers lack it
            command = [compiler, *flags, str(source), "-o", str(built), "-lm"]
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode == 0:
                break
        else:
            raise RuntimeError(f"{compiler} failed: {result.stderr.strip()[-2000:]}")
        os.replace(built, target)  # atomic: concurrent processes (DDP ranks) never load a half-written file
    return target


def _load() -> ctypes.CDLL | None:
    global _library, _load_attempted
    if _load_attempted:
        return _library
    with _load_lock:
        if _load_attempted:
            return _library
        try:
            compiler = _compiler()
            if compiler is None:
                raise RuntimeError("no C compiler found ($CC, cc, gcc)")
            library = ctypes.CDLL(str(_compile(compiler)))
            pointer, size, flag, real = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
            dims = [size] * 5  # B, T, C, S, K
            for layout in ("nchw", "nhwc"):
                for suffix in _SUFFIX.values():
                    signatures = {
                        "aggregate": [pointer] * 5 + dims + [flag, flag],  # x, w, bias, mask, y; transposed, threads
                        "correlate": [pointer] * 3 + dims + [flag],  # dy, x, dw; threads
                        "aggregate_inplace": [pointer] * 2 + dims + [flag, flag],  # x, w; rectify, threads
                        # x, sums, rows, S (nchw) or frames, S, C (nhwc); store, threads
                        "relu_sum": [pointer] * 2 + [size] * (2 if layout == "nchw" else 3) + [flag, flag],
                        "eval": (
                            [pointer] + dims  # x
                            + [pointer, size] + [pointer] * 4 + [real, pointer]  # global branch
                            + [pointer, size, size] + [pointer] * 4 + [real, pointer]  # local branch
                            + [flag, flag]  # local_first, threads
                        ),
                    }  # fmt: skip
                    for name, argtypes in signatures.items():
                        function = getattr(library, f"tam_{name}_{layout}_{suffix}")
                        function.argtypes, function.restype = argtypes, None
            _library = library
        except (OSError, RuntimeError, subprocess.SubprocessError) as error:
            logger.warning(
                "TAM's fused CPU kernels are unavailable (%s); using the PyTorch formulation (same results, slower on "
                "CPU). Set TANET_HF_CPU_KERNEL=0 to skip compiling them.",
                error,
            )
        _load_attempted = True
    return _library


def is_available() -> bool:
    """Whether the fused CPU kernel is compiled and enabled (compiles it on the first call)."""
    return os.environ.get("TANET_HF_CPU_KERNEL", "1") != "0" and _load() is not None


def _layout(tensor: torch.Tensor) -> str | None:
    """`"nchw"` or `"nhwc"` for a `(B, T, C, H, W)` tensor whose `(B*T, C, H, W)` view is contiguous or
    channels-last (dense, no gaps); `None` for anything else."""
    batch, num_frames, channels, height, width = tensor.shape
    if tensor.is_contiguous():
        return "nchw"
    expected = (num_frames * height * width * channels, height * width * channels, 1, width * channels, channels)
    if all(stride == want or size == 1 for stride, want, size in zip(tensor.stride(), expected, tensor.shape)):
        return "nhwc"
    return None


def _kernel_for(name: str, *tensors: torch.Tensor) -> tuple[ctypes._CFuncPtr, str] | None:
    """The C function for these `(B, T, C, H, W)` tensors, or `None` when the PyTorch path must be used."""
    first = tensors[0]
    if (
        first.device.type != "cpu"
        or first.dtype not in _SUFFIX
        or any(t.dtype != first.dtype or t.device != first.device or t.shape != first.shape for t in tensors)
        or first.numel() == 0
        or torch.compiler.is_compiling()
        or torch.jit.is_scripting()
        or _get_current_dispatch_mode() is not None  # FLOP counters, fake tensors, debug modes: they see ATen ops
        or any(type(t) not in (torch.Tensor, torch.nn.Parameter) for t in tensors)  # tensor subclasses
        or not is_available()
    ):
        return None
    layout = _layout(first)
    if layout is None or any(_layout(t) != layout for t in tensors[1:]):
        return None
    return getattr(_library, f"tam_{name}_{layout}_{_SUFFIX[first.dtype]}"), layout


def aggregate(
    clips: torch.Tensor,
    weights: torch.Tensor,
    bias: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    transposed: bool = False,
) -> torch.Tensor | None:
    """
    `Y[:, t] = Σ_k weights[:, t, k] ⊙ clips[:, t + k - p]` in one pass, or `None` where the kernel does not apply.

    Args:
        clips: `(B, T, C, H, W)` float32/float64 CPU tensor, contiguous or channels-last (as a `(B*T, C, H, W)` view).
        weights: `(B, T, K, C)` of the same dtype.
        bias: optional `(B, T, C)` added to every pixel of its `(b, t, c)` plane after the sum.
        mask: optional tensor like `clips`; the output is zeroed where `mask <= 0` (after the bias): the ReLU
            backward when `mask` is the ReLU's output.
        transposed: use the adjoint's weights `W'[:, t, k] = W[:, t + k - p, K - 1 - k]` (the input gradient of
            the aggregation with weights `W`), read in place of a transposed copy.

    Returns:
        `(B, T, C, H, W)` in the memory format of `clips` (not differentiable: call it under `no_grad` or from an
        `autograd.Function`).
    """
    found = _kernel_for("aggregate", clips) if mask is None else _kernel_for("aggregate", clips, mask)
    if found is None or weights.dtype != clips.dtype or (bias is not None and bias.dtype != clips.dtype):
        return None
    function, _ = found
    batch, num_frames, channels, height, width = clips.shape
    weights = weights.contiguous()
    bias = bias.contiguous() if bias is not None else None
    out = torch.empty_like(clips)  # preserves the strides of a dense `clips`
    function(
        clips.data_ptr(), weights.data_ptr(), bias.data_ptr() if bias is not None else None,
        mask.data_ptr() if mask is not None else None, out.data_ptr(),
        batch, num_frames, channels, height * width, weights.shape[2], int(transposed), torch.get_num_threads(),
    )  # fmt: skip
    return out


def supports(*tensors: torch.Tensor) -> bool:
    """Whether the kernels apply to these `(B, T, C, H, W)` tensors (dtype, device, layout, tracing, availability)."""
    return _kernel_for("aggregate", *tensors) is not None


def correlate(grad_out: torch.Tensor, clips: torch.Tensor, kernel_size: int) -> torch.Tensor | None:
    """
    `dW[b, t, k, c] = Σ_{h,w} grad_out[b, t, c] ⊙ clips[b, t + k - p, c]` in one pass over `grad_out`, or `None`.

    Args:
        grad_out, clips: `(B, T, C, H, W)`, same dtype and layout (contiguous or channels-last).
        kernel_size: K.

    Returns:
        `(B, T, K, C)` (not differentiable).
    """
    found = _kernel_for("correlate", grad_out, clips)
    if found is None:
        return None
    function, _ = found
    batch, num_frames, channels, height, width = clips.shape
    grad_weights = clips.new_empty(batch, num_frames, kernel_size, channels)
    function(
        grad_out.data_ptr(), clips.data_ptr(), grad_weights.data_ptr(),
        batch, num_frames, channels, height * width, kernel_size, torch.get_num_threads(),
    )  # fmt: skip
    return grad_weights


def aggregate_(clips: torch.Tensor, weights: torch.Tensor) -> torch.Tensor | None:
    """
    In-place [`aggregate`]: overwrites `clips` `(B, T, C, H, W)` with the aggregation and returns it, or returns
    `None` (and leaves `clips` untouched) where the kernel does not apply. One read and one write of `clips` and no
    output allocation; for inference, where nothing else needs the input any more.
    """
    found = _kernel_for("aggregate_inplace", clips)
    if found is None or weights.dtype != clips.dtype:
        return None
    function, _ = found
    batch, num_frames, channels, height, width = clips.shape
    weights = weights.contiguous()
    function(
        clips.data_ptr(), weights.data_ptr(),
        batch, num_frames, channels, height * width, weights.shape[2], 0, torch.get_num_threads(),
    )  # fmt: skip
    return clips


def relu_and_spatial_sum_(hidden_state: torch.Tensor) -> torch.Tensor | None:
    """
    In-place ReLU that also returns the spatial sums of its result (TAM's squeeze), or `None` (and leaves the
    input untouched) where the kernel does not apply.

    Args:
        hidden_state: `(B, T, C, H, W)`, overwritten with `max(hidden_state, 0)`.

    Returns:
        `(B, T, C)`: `Σ_{h,w}` of the rectified values.
    """
    found = _kernel_for("relu_sum", hidden_state)
    if found is None:
        return None
    function, layout = found
    batch, num_frames, channels, height, width = hidden_state.shape
    sums = hidden_state.new_empty(batch, num_frames, channels)
    if layout == "nchw":
        function(hidden_state.data_ptr(), sums.data_ptr(), batch * num_frames * channels, height * width, 1,
                 torch.get_num_threads())  # fmt: skip
    else:
        function(hidden_state.data_ptr(), sums.data_ptr(), batch * num_frames, height * width, channels, 1,
                 torch.get_num_threads())  # fmt: skip
    return sums


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return tensor.data_ptr() if tensor is not None else None


def tam_inference_(
    pre_activation: torch.Tensor,
    global_branch: torch.nn.Sequential,
    local_branch: torch.nn.Sequential | None,
    kernel_size: int,
    local_first: bool,
) -> bool:
    """
    A whole TAM after a ReLU, in inference, in one call and in place: `pre_activation` `(B, T, C, H, W)` becomes
    `TAM(relu(pre_activation))`. The branches' BatchNorms use their running statistics (eval mode). Returns `False`
    (and leaves everything untouched) where the kernel does not apply, e.g. BatchNorm in training mode.

    Args:
        global_branch: `Linear(T, αT) → BatchNorm1d → ReLU → Linear(αT, K) → Softmax` (bias-free linears).
        local_branch: `Conv1d(C, C/β, k) → BatchNorm1d → ReLU → Conv1d(C/β, C, 1) → Sigmoid` (bias-free), or `None`.
        kernel_size: K. local_first: TANet (`True`) or TANet-R (`False`) folding of `V`.
    """
    found = _kernel_for("eval", pre_activation)
    if found is None:
        return False
    norms = [global_branch[1]] + ([local_branch[1]] if local_branch is not None else [])
    linears = [global_branch[0], global_branch[3]] + (
        [local_branch[0], local_branch[3]] if local_branch is not None else []
    )
    if any(norm.training or norm.running_mean is None for norm in norms) or any(
        layer.bias is not None for layer in linears
    ):
        return False
    tensors = [t for module in norms + linears for t in module.parameters(recurse=False)] + [
        t for norm in norms for t in (norm.running_mean, norm.running_var)
    ]
    if any(
        t.dtype != pre_activation.dtype or t.device != pre_activation.device or not t.is_contiguous() for t in tensors
    ):
        return False
    function, _ = found
    batch, num_frames, channels, height, width = pre_activation.shape
    g_in, g_norm, _, g_out, _ = global_branch
    arguments = [
        pre_activation.data_ptr(), batch, num_frames, channels, height * width, kernel_size,
        g_in.weight.data_ptr(), g_in.weight.shape[0], g_norm.running_mean.data_ptr(), g_norm.running_var.data_ptr(),
        _pointer(g_norm.weight), _pointer(g_norm.bias), g_norm.eps, g_out.weight.data_ptr(),
    ]  # fmt: skip
    if local_branch is not None:
        l_in, l_norm, _, l_out, _ = local_branch
        arguments += [
            l_in.weight.data_ptr(), l_in.weight.shape[0], l_in.weight.shape[2], l_norm.running_mean.data_ptr(),
            l_norm.running_var.data_ptr(), _pointer(l_norm.weight), _pointer(l_norm.bias), l_norm.eps,
            l_out.weight.data_ptr(),
        ]  # fmt: skip
    else:
        arguments += [None, 0, 1, None, None, None, None, 0.0, None]
    function(*arguments, int(local_first), torch.get_num_threads())
    return True
