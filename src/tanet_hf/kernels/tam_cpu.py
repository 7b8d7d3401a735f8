# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""
TAM's fused CPU kernels: the C source, and building, validating and loading it (the only native code in tanet_hf).

The C functions cut TAM's memory-bound passes to what the data flow needs (`B` clips, `T` frames, `C` channels,
`S = H·W` pixels, `K` taps, `p = K // 2`; layouts "nchw" = contiguous `(B*T, C, H, W)`, "nhwc" = channels-last):

- `tam_aggregate_*`: `Y[:, t] = Σ_k W[:, t, k] ⊙ X[:, t + k - p]` in one pass, optionally `+ bias` per `(b, t, c)`
  and masked by a ReLU output; with the transposed weights that is the aggregation's input gradient;
- `tam_correlate_*`: the weight gradient `dW[b, t, k, c] = Σ_s dY[b, t, c, s] · X[b, t + k - p, c, s]`;
- `tam_relu_sum_*`: the ReLU before TAM and TAM's squeeze (spatial sum) in one pass;
- `tam_eval_*`: a whole `relu → TAM` in inference, in place, in one call (branches with eval-mode BatchNorm).

**Built at first use, not at install.** tanet_hf ships as a pure-Python wheel: installing it runs no code, so an
install-time build would need an sdist-only install with a compiler present at that moment, and `-march=native`
ties the binary to the CPU it was built on (a shared environment or a container image moved to another machine
would load code for the wrong CPU). So the first CPU forward compiles the source once (about a second; no torch
headers), keyed by source, flags, compiler version and CPU, and every later process loads the cached library.

**The cache cannot crash or poison a process.** The library is built in a private temporary folder and moved into
`$TANET_HF_CACHE/kernels` (default `~/.cache/tanet_hf/kernels`) by an atomic rename, next to a `.sha256` file with
its digest; a cached file whose digest does not match (truncated, half-copied, foreign) is rebuilt, never mapped
(a truncated shared object can kill the process with SIGBUS when mapped). After loading, the library must report
the ABI number compiled into it and pass a numeric self-test. The compiler runs with a timeout
(`TANET_HF_CPU_KERNEL_BUILD_TIMEOUT`, seconds, default 120). No compiler, a failed or timed-out build, an
unwritable cache, a failed check: one warning per process and the PyTorch formulation (same numbers).
`TANET_HF_CPU_KERNEL=0` disables the kernels without trying.
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
/* Y <- max(X, 0) (Y may be X; NULL: not stored), and sums[b][t][c] = sum_s max(X, 0)[b][t][c][s] (TAM's squeeze, \
   fused into the ReLU that precedes it: the squeeze then costs no pass over memory of its own). */             \
void tam_relu_sum_nchw_##suffix(const scalar *x, scalar *y, scalar *restrict sums, int64_t rows, int64_t S,     \
                                int threads) {                                                                  \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t row = 0; row < rows; ++row) {                                                                  \
        const scalar *values = x + row * S;                                                                     \
        scalar acc = 0;                                                                                         \
        if (y) { /* NaN stays NaN, as in torch.relu */                                                           \
            scalar *out = y + row * S;                                                                          \
            _Pragma("omp simd reduction(+:acc)")                                                                \
            for (int64_t s = 0; s < S; ++s) { const scalar v = values[s] < 0 ? 0 : values[s]; out[s] = v; acc += v; } \
        } else {                                                                                                \
            _Pragma("omp simd reduction(+:acc)")                                                                \
            for (int64_t s = 0; s < S; ++s) acc += values[s] < 0 ? 0 : values[s];                              \
        }                                                                                                       \
        sums[row] = acc;                                                                                        \
    }                                                                                                           \
}                                                                                                               \
void tam_relu_sum_nhwc_##suffix(const scalar *x, scalar *y, scalar *restrict sums, int64_t frames, int64_t S,   \
                                int64_t C, int threads) {                                                       \
    _Pragma("omp parallel for num_threads(threads) schedule(static)")                                           \
    for (int64_t frame = 0; frame < frames; ++frame) {                                                          \
        scalar *restrict acc = sums + frame * C;                                                                \
        for (int64_t c = 0; c < C; ++c) acc[c] = 0;                                                             \
        for (int64_t s = 0; s < S; ++s) {                                                                       \
            const scalar *values = x + (frame * S + s) * C;                                                     \
            if (y) { scalar *out = y + (frame * S + s) * C;                                                     \
                     for (int64_t c = 0; c < C; ++c) { const scalar v = values[c] < 0 ? 0 : values[c]; out[c] = v; acc[c] += v; } } \
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

/* Checked after loading: a library built from other source (or a foreign file) is never used. */
int64_t tam_kernels_abi(void) { return TAM_KERNELS_ABI; }
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
            ("nchw", f"tam_relu_sum_nchw_{suffix}(x, NULL, squeezed, B * T * C, S, threads)"),
            ("nhwc", f"tam_relu_sum_nhwc_{suffix}(x, NULL, squeezed, B * T, S, C, threads)"),
        ):
            code = _EVAL_TEMPLATE.replace("RELU_SUM_CALL", relu_sum).replace("LAYOUT", layout)
            code = code.replace("SUFFIX", suffix).replace("scalar", scalar)
            if layout == "nhwc":  # the BatchNorm helper is shared by both layouts
                code = code[code.index("void tam_eval_") :]
            parts.append(code)
    return "\n".join(parts)


_SOURCE += _eval_source()

_FLAGS = ["-O3", "-march=native", "-fopenmp", "-fPIC", "-shared", "-std=c99", "-fno-math-errno"]
LAYOUTS = ("nchw", "nhwc")
SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
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


def _build_timeout() -> float:
    return float(os.environ.get("TANET_HF_CPU_KERNEL_BUILD_TIMEOUT", "120"))


def _cpu_signature() -> str:
    """What `-march=native` depends on: the CPU model and its feature flags (Linux), else the platform string."""
    try:
        info = Path("/proc/cpuinfo").read_text()
        lines = [line for line in info.splitlines() if line.startswith(("model name", "flags"))][:2]
        return "\n".join(lines)
    except OSError:
        return platform.platform() + platform.processor()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _is_intact(library: Path) -> bool:
    """Whether `library` is the file this cache wrote: its `.sha256` companion names its digest."""
    stamp = library.with_suffix(".sha256")
    try:
        return stamp.read_text().strip() == _digest(library)
    except OSError:
        return False


def _run_compiler(command: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=_build_timeout())


def _compile(compiler: str) -> tuple[Path, int]:
    """Build (or find in the cache) the library; return its path and the ABI number compiled into it."""
    version = _run_compiler([compiler, "--version"]).stdout
    key = hashlib.sha256("\0".join([_SOURCE, " ".join(_FLAGS), version, _cpu_signature()]).encode()).hexdigest()
    abi = int(key[:15], 16)
    target = _cache_dir() / "kernels" / f"tam_cpu_{key[:20]}.so"
    if target.exists() and _is_intact(target):
        return target, abi
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        source = Path(work) / "tam_cpu.c"
        source.write_text(_SOURCE)
        built = Path(work) / target.name
        for flags in (_FLAGS, [flag for flag in _FLAGS if flag != "-march=native"]):  # some compilers lack it
            command = [compiler, *flags, f"-DTAM_KERNELS_ABI={abi}LL", str(source), "-o", str(built), "-lm"]
            result = _run_compiler(command)
            if result.returncode == 0:
                break
        else:
            raise RuntimeError(f"{compiler} failed: {result.stderr.strip()[-2000:]}")
        stamp = built.with_suffix(".sha256")
        stamp.write_text(_digest(built))
        # Atomic renames: a concurrent process (another DDP rank) sees the old pair, the new pair, or a mismatch it
        # rebuilds; never a half-written library.
        os.replace(built, target)
        os.replace(stamp, target.with_suffix(".sha256"))
    return target, abi


_POINTER, _SIZE, _FLAG, _REAL = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
_DIMS = [_SIZE] * 5  # B, T, C, S, K
SIGNATURES = {
    "aggregate": [_POINTER] * 5 + _DIMS + [_FLAG, _FLAG],  # x, w, bias, mask, y; transposed, threads
    "correlate": [_POINTER] * 3 + _DIMS + [_FLAG],  # dy, x, dw; threads
    "aggregate_inplace": [_POINTER] * 2 + _DIMS + [_FLAG, _FLAG],  # x, w; rectify, threads
    "relu_sum_nchw": [_POINTER] * 3 + [_SIZE] * 2 + [_FLAG],  # x, y, sums, rows, S; threads
    "relu_sum_nhwc": [_POINTER] * 3 + [_SIZE] * 3 + [_FLAG],  # x, y, sums, frames, S, C; threads
    "eval": (
        [_POINTER] + _DIMS  # x
        + [_POINTER, _SIZE] + [_POINTER] * 4 + [_REAL, _POINTER]  # global branch
        + [_POINTER, _SIZE, _SIZE] + [_POINTER] * 4 + [_REAL, _POINTER]  # local branch
        + [_FLAG, _FLAG]  # local_first, threads
    ),
}  # fmt: skip


def _declare(library: ctypes.CDLL) -> None:
    for layout in LAYOUTS:
        for suffix in SUFFIX.values():
            for name, argtypes in SIGNATURES.items():
                if name.startswith("relu_sum_"):
                    if not name.endswith(layout):
                        continue
                    name = "relu_sum"
                function = getattr(library, f"tam_{name}_{layout}_{suffix}")
                function.argtypes, function.restype = argtypes, None


def _self_test(library: ctypes.CDLL) -> None:
    """One tiny aggregation against its definition: catches a library that loads but computes something else."""
    clips = torch.arange(1.0, 7.0, dtype=torch.float64).view(1, 3, 1, 1, 2)  # (B, T, C, H, W)
    weights = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64).repeat(1, 3, 1).view(1, 3, 3, 1)
    out = torch.empty_like(clips)
    library.tam_aggregate_nchw_f64(
        clips.data_ptr(), weights.data_ptr(), None, None, out.data_ptr(), 1, 3, 1, 2, 3, 0, 1
    )
    x = clips.view(3, 2)
    expected = torch.stack([x[0] + 2 * x[1], 0.5 * x[0] + x[1] + 2 * x[2], 0.5 * x[1] + x[2]]).view_as(clips)
    if not torch.equal(out, expected):
        raise RuntimeError("the cached library failed its self-test")


def _open() -> ctypes.CDLL:
    if os.environ.get("TANET_HF_CPU_KERNEL", "1") == "0":
        raise RuntimeError("disabled by TANET_HF_CPU_KERNEL=0")
    compiler = _compiler()
    if compiler is None:
        raise RuntimeError("no C compiler found ($CC, cc, gcc)")
    path, abi = _compile(compiler)
    library = ctypes.CDLL(str(path))
    library.tam_kernels_abi.restype = ctypes.c_int64
    if library.tam_kernels_abi() != abi:
        raise RuntimeError(f"{path} was built from other source (ABI {library.tam_kernels_abi()}, expected {abi})")
    _declare(library)
    _self_test(library)
    return library


def library() -> ctypes.CDLL | None:
    """The loaded kernel library, built on the first call; `None` (after one warning) where it cannot be had."""
    global _library, _load_attempted
    if _load_attempted:
        return _library
    with _load_lock:
        if not _load_attempted:
            try:
                _library = _open()
            except (OSError, RuntimeError, AttributeError, subprocess.SubprocessError) as error:
                if os.environ.get("TANET_HF_CPU_KERNEL", "1") != "0":
                    logger.warning(
                        "TAM's fused CPU kernels are unavailable (%s); using the PyTorch formulation (same results, "
                        "slower on CPU). Set TANET_HF_CPU_KERNEL=0 to skip building them.",
                        error,
                    )
            _load_attempted = True
    return _library


def is_available() -> bool:
    """Whether the fused CPU kernels are built, checked and enabled (builds them on the first call)."""
    return library() is not None


def layout(tensor: torch.Tensor) -> str | None:
    """`"nchw"` or `"nhwc"` for a `(B, T, C, H, W)` tensor whose `(B*T, C, H, W)` view is contiguous or
    channels-last (dense, no gaps); `None` for anything else."""
    batch, num_frames, channels, height, width = tensor.shape
    if tensor.is_contiguous():
        return "nchw"
    expected = (num_frames * height * width * channels, height * width * channels, 1, width * channels, channels)
    if all(stride == want or size == 1 for stride, want, size in zip(tensor.stride(), expected, tensor.shape)):
        return "nhwc"
    return None


def function(name: str, like: torch.Tensor):
    """The C function `name` for tensors laid out and typed like `like` (the library must be loaded)."""
    return getattr(_library, f"tam_{name}_{layout(like)}_{SUFFIX[like.dtype]}")
