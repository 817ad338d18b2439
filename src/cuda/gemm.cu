/* gemm.cu - the network's matrix products through cuBLASLt, and the backend context
 * (handle, workspace, plan cache).
 *
 * Row-major y (M, N) = x (M, K) . w (N, K)^T is, read column-major, y^T = w^T' x^T: a
 * cuBLASLt product with m = N, n = M, k = K, A = w stored (K, N) with ld K and op T,
 * B = x stored (K, M) with ld ldx, C = D = y stored (N, M) with ld ldy. The bias epilogue
 * adds b[i] to row i of the column-major D, i.e. to column i of row-major y.
 *
 * Plans (descriptors, layouts and the algorithm) are cached by shape, types, epilogue and
 * pointer alignment, so a forward pass chooses an algorithm once per distinct product;
 * graph capture then records the kernels with their pointers. The algorithm is the
 * heuristic's first choice, or, for fp16/bf16 products with RFS_CUDA_GEMM_TUNE=1, the
 * fastest of the heuristic's first TUNE_CANDIDATES, timed on the product's own operands
 * (into scratch output) when it is first met outside a graph capture. Tuned choices are
 * shared by every context of the process (one table per device), so all sessions compute
 * the same products the same way; fp32 products (the parity path) are never tuned. */
#include "cuda/common.cuh"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { WORKSPACE_BYTES = 32 << 20, TUNE_CANDIDATES = 8, TUNE_RUNS = 5 };

typedef struct gemm_key {
    int M, N, K, ldx, ldy, ldc, xt, yt, epi, accumulate, batch;
    long long sx, sw, sy;
    int align_x, align_w, align_y, align_c;
} gemm_key;

typedef struct gemm_plan {
    gemm_key key;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc, ld; /* ld: D's layout when C is another matrix */
    cublasLtMatmulAlgo_t algo;
} gemm_plan;

/* Tuned algorithms of the process, by device and key (see top). */
typedef struct tuned {
    gemm_key key;
    int device;
    cublasLtMatmulAlgo_t algo;
} tuned;
static tuned *g_tuned;
static int g_ntuned, g_tuned_cap;
static pthread_mutex_t g_tune_lock = PTHREAD_MUTEX_INITIALIZER;

static int tune_enabled(void) {
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("RFS_CUDA_GEMM_TUNE");
        on = e && *e == '1';
    }
    return on;
}

struct rfs_cuda_ctx {
    cublasLtHandle_t lt;
    void *workspace;
    /* one plan per distinct product; grows with the batch sizes a session meets (a server
     * batching 1..B frames needs plans for every B), so it is not bounded ahead of time */
    gemm_plan *plans;
    int nplans, cap;
};

extern "C" rfs_status rfs_cuda_ctx_create(rfs_cuda_ctx **out) {
    *out = NULL;
    rfs_cuda_ctx *c = (rfs_cuda_ctx *)calloc(1, sizeof *c);
    if (!c) return rfs_fail(RFS_ERR_NOMEM, "out of memory for the CUDA context");
    if (cublasLtCreate(&c->lt) != CUBLAS_STATUS_SUCCESS) {
        free(c);
        return rfs_fail(RFS_ERR_BACKEND, "cuBLASLt could not be initialised");
    }
    if (cudaMalloc(&c->workspace, WORKSPACE_BYTES) != cudaSuccess) {
        cudaGetLastError();
        cublasLtDestroy(c->lt);
        free(c);
        return rfs_fail(RFS_ERR_NOMEM, "out of device memory for the cuBLASLt workspace");
    }
    *out = c;
    return RFS_OK;
}

extern "C" void rfs_cuda_ctx_free(rfs_cuda_ctx *c) {
    if (!c) return;
    for (int i = 0; i < c->nplans; i++) {
        gemm_plan *p = &c->plans[i];
        cublasLtMatrixLayoutDestroy(p->la);
        cublasLtMatrixLayoutDestroy(p->lb);
        cublasLtMatrixLayoutDestroy(p->lc);
        if (p->ld != p->lc) cublasLtMatrixLayoutDestroy(p->ld);
        cublasLtMatmulDescDestroy(p->op);
    }
    free(c->plans);
    cudaFree(c->workspace);
    cublasLtDestroy(c->lt);
    free(c);
}

static cudaDataType_t cuda_type(int t) {
    return t == RFS_DT_F16 ? CUDA_R_16F : t == RFS_DT_BF16 ? CUDA_R_16BF : CUDA_R_32F;
}

static int ptr_align(const void *p) {
    uintptr_t a = (uintptr_t)p;
    int al = 256;
    while (al > 1 && (a & (uintptr_t)(al - 1))) al >>= 1;
    return al;
}

static cublasLtMatrixLayout_t layout(cudaDataType_t t, int rows, int cols, int ld, int batch,
                                     long long stride) {
    cublasLtMatrixLayout_t l;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, t, (uint64_t)rows, (uint64_t)cols, ld));
    if (batch > 1) {
        CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                      &batch, sizeof batch));
        int64_t s = stride;
        CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(
            l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &s, sizeof s));
    }
    return l;
}

/* The operands of the product being planned, for timing candidates. */
typedef struct gemm_operands {
    const void *w, *x, *b;
    size_t d_bytes; /* size of the output (D) */
    cudaStream_t stream;
} gemm_operands;

/* Times each candidate on the real operands, writing a scratch output; returns the index
 * of the fastest, or 0 when timing is not possible here. */
static int fastest(rfs_cuda_ctx *c, const gemm_plan *p, const cublasLtMatmulHeuristicResult_t *res,
                   int n, const gemm_operands *ops) {
    cudaStreamCaptureStatus cap = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(ops->stream, &cap) != cudaSuccess || cap != cudaStreamCaptureStatusNone) {
        cudaGetLastError();
        return 0;
    }
    void *scratch = NULL;
    if (cudaMalloc(&scratch, ops->d_bytes) != cudaSuccess) {
        cudaGetLastError();
        return 0;
    }
    CUDA_CHECK(cudaMemsetAsync(scratch, 0, ops->d_bytes, ops->stream));
    cudaEvent_t e0, e1;
    CUDA_CHECK(cudaEventCreate(&e0));
    CUDA_CHECK(cudaEventCreate(&e1));
    if (ops->b)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &ops->b,
                                                    sizeof ops->b));
    const float alpha = 1.f, beta = p->key.accumulate ? 1.f : 0.f;
    int best = 0;
    float best_ms = 1e30f;
    for (int i = 0; i < n; i++) {
        cublasStatus_t st = cublasLtMatmul(c->lt, p->op, &alpha, ops->w, p->la, ops->x, p->lb, &beta,
                                           scratch, p->lc, scratch, p->ld, &res[i].algo,
                                           c->workspace, WORKSPACE_BYTES, ops->stream);
        if (st != CUBLAS_STATUS_SUCCESS) continue;
        CUDA_CHECK(cudaEventRecord(e0, ops->stream));
        for (int r = 0; r < TUNE_RUNS; r++)
            cublasLtMatmul(c->lt, p->op, &alpha, ops->w, p->la, ops->x, p->lb, &beta, scratch, p->lc,
                           scratch, p->ld, &res[i].algo, c->workspace, WORKSPACE_BYTES, ops->stream);
        CUDA_CHECK(cudaEventRecord(e1, ops->stream));
        CUDA_CHECK(cudaEventSynchronize(e1));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
        if (ms < best_ms) best_ms = ms, best = i;
    }
    CUDA_CHECK(cudaEventDestroy(e0));
    CUDA_CHECK(cudaEventDestroy(e1));
    CUDA_CHECK(cudaStreamSynchronize(ops->stream));
    cudaFree(scratch);
    return best;
}

static gemm_plan *get_plan(rfs_cuda_ctx *c, const gemm_key *k, const gemm_operands *ops) {
    for (int i = 0; i < c->nplans; i++)
        if (!memcmp(&c->plans[i].key, k, sizeof *k)) return &c->plans[i];
    if (c->nplans == c->cap) {
        int cap = c->cap ? 2 * c->cap : 256;
        gemm_plan *np = (gemm_plan *)realloc(c->plans, sizeof *np * (size_t)cap);
        if (!np) rfs_panic(__FILE__, __LINE__, "out of host memory for cuBLASLt plans");
        c->plans = np;
        c->cap = cap;
    }
    gemm_plan *p = &c->plans[c->nplans];
    memset(p, 0, sizeof *p);
    p->key = *k;
    const cudaDataType_t ab = cuda_type(k->xt), cd = cuda_type(k->yt);
    const cublasComputeType_t ct = CUBLAS_COMPUTE_32F; /* fp32: no TF32; halves: fp32 accumulation */
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->op, ct, CUDA_R_32F));
    cublasOperation_t opT = CUBLAS_OP_T, opN = CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &opT, sizeof opT));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &opN, sizeof opN));
    cublasLtEpilogue_t epi = (cublasLtEpilogue_t)k->epi;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    p->la = layout(ab, k->K, k->N, k->K, k->batch, k->sw);
    p->lb = layout(ab, k->K, k->M, k->ldx, k->batch, k->sx);
    p->ld = layout(cd, k->N, k->M, k->ldy, k->batch, k->sy);
    p->lc = k->ldc ? layout(cd, k->N, k->M, k->ldc, k->batch, k->sy) : p->ld;

    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    uint64_t ws = WORKSPACE_BYTES;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
    uint32_t aa = (uint32_t)k->align_w, ab_ = (uint32_t)k->align_x, ad = (uint32_t)k->align_y;
    uint32_t ac = (uint32_t)(k->ldc ? k->align_c : k->align_y);
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &aa, sizeof aa));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &ab_, sizeof ab_));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &ac, sizeof ac));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &ad, sizeof ad));
    const int tune = tune_enabled() && k->xt != RFS_DT_F32;
    cublasLtMatmulHeuristicResult_t res[TUNE_CANDIDATES];
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(c->lt, p->op, p->la, p->lb, p->lc, p->ld,
                                                       pref, tune ? TUNE_CANDIDATES : 1, res, &found);
    cublasLtMatmulPreferenceDestroy(pref);
    if (st != CUBLAS_STATUS_SUCCESS || found < 1)
        rfs_panic(__FILE__, __LINE__,
                  "cuBLASLt has no algorithm for M=%d N=%d K=%d ldx=%d ldy=%d types %d->%d "
                  "epilogue %d batch %d alignments %d/%d/%d (status %d)",
                  k->M, k->N, k->K, k->ldx, k->ldy, k->xt, k->yt, k->epi, k->batch, k->align_x,
                  k->align_w, k->align_y, (int)st);
    p->algo = res[0].algo;
    if (tune && found > 1) {
        int dev = 0, known = 0;
        CUDA_CHECK(cudaGetDevice(&dev));
        pthread_mutex_lock(&g_tune_lock);
        for (int i = 0; i < g_ntuned && !known; i++)
            if (g_tuned[i].device == dev && !memcmp(&g_tuned[i].key, k, sizeof *k))
                p->algo = g_tuned[i].algo, known = 1;
        if (!known) {
            const int best = fastest(c, p, res, found, ops);
            p->algo = res[best].algo;
            if (g_ntuned == g_tuned_cap) {
                const int cap = g_tuned_cap ? 2 * g_tuned_cap : 256;
                tuned *nt = (tuned *)realloc(g_tuned, sizeof *nt * (size_t)cap);
                if (nt) g_tuned = nt, g_tuned_cap = cap;
            }
            if (g_ntuned < g_tuned_cap) g_tuned[g_ntuned++] = (tuned){*k, dev, p->algo};
        }
        pthread_mutex_unlock(&g_tune_lock);
    }
    c->nplans++;
    return p;
}

static void run(rfs_cuda_ctx *c, void *y, rfs_dtype yt, int ldy, long long sy, const void *cm,
                int ldc, const void *x, int ldx, long long sx, const void *w, long long sw,
                rfs_dtype xt, const void *b, int M, int N, int K, rfs_act act, int accumulate,
                int batch, void *stream) {
    if (M <= 0 || N <= 0) return;
    RFS_CHECK(act == RFS_ACT_NONE || act == RFS_ACT_RELU);
    RFS_CHECK(ldy >= N && ldx >= K);
    gemm_key k;
    memset(&k, 0, sizeof k);
    k.M = M, k.N = N, k.K = K, k.ldx = ldx, k.ldy = ldy, k.xt = xt, k.yt = yt;
    k.epi = b ? (act == RFS_ACT_RELU ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
              : (act == RFS_ACT_RELU ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
    k.accumulate = accumulate, k.batch = batch, k.sx = sx, k.sw = sw, k.sy = sy;
    k.align_x = ptr_align(x), k.align_w = ptr_align(w), k.align_y = ptr_align(y);
    if (cm) k.ldc = ldc, k.align_c = ptr_align(cm), k.accumulate = 1;
    const size_t esz = yt == RFS_DT_F32 ? 4 : 2;
    /* the output's extent, for a tuning scratch that also stands in for C (ldc may exceed ldy) */
    const size_t d_elems = (batch > 1 ? (size_t)(batch - 1) * sy : 0) + (size_t)(cm && ldc > ldy ? ldc : ldy) * M;
    const gemm_operands ops = {w, x, b, esz * d_elems, as_stream(stream)};
    gemm_plan *p = get_plan(c, &k, &ops);
    if (b)
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b,
                                                    sizeof b));
    const float alpha = 1.f, beta = k.accumulate ? 1.f : 0.f;
    CUBLAS_CHECK(cublasLtMatmul(c->lt, p->op, &alpha, w, p->la, x, p->lb, &beta, cm ? cm : y, p->lc,
                                y, p->ld, &p->algo, c->workspace, WORKSPACE_BYTES,
                                as_stream(stream)));
}

extern "C" void rfs_linear_cuda(rfs_cuda_ctx *c, void *y, rfs_dtype yt, int ldy, const void *x,
                                int ldx, const void *w, rfs_dtype xt, const void *b, int M,
                                int N, int K, rfs_act act, int accumulate, void *stream) {
    run(c, y, yt, ldy, 0, NULL, 0, x, ldx, 0, w, 0, xt, b, M, N, K, act, accumulate, 1, stream);
}

extern "C" void rfs_linear_add_cuda(rfs_cuda_ctx *c, void *y, rfs_dtype yt, int ldy,
                                    const void *cm, int ldc, const void *x, int ldx,
                                    const void *w, rfs_dtype xt, const void *b, int M, int N,
                                    int K, void *stream) {
    run(c, y, yt, ldy, 0, cm, ldc, x, ldx, 0, w, 0, xt, b, M, N, K, RFS_ACT_NONE, 1, 1, stream);
}

extern "C" void rfs_linear_batched_cuda(rfs_cuda_ctx *c, void *y, rfs_dtype yt, int ldy,
                                        long long sy, const void *x, int ldx, long long sx,
                                        const void *w, long long sw, rfs_dtype xt,
                                        const void *b, int M, int N, int K, int batch,
                                        void *stream) {
    run(c, y, yt, ldy, sy, NULL, 0, x, ldx, sx, w, sw, xt, b, M, N, K, RFS_ACT_NONE, 0, batch,
        stream);
}
