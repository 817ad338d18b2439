/* gemm_bench.c - GEMM engines side by side on seg-nano's real shapes.
 *
 *   y (M, N) = epilogue(x (M, K) . W^T),  W (N, K) a Linear weight (PyTorch layout)
 *
 * Engines (each with the epilogue it can fuse; the others run it as a separate pass):
 *   openblas  the previous engine: cblas_sgemm (bias through beta = 1), activation pass
 *             (in the BLIS build this column is BLIS's CBLAS)
 *   blis      bli_sgemm (typed API), same epilogue handling      (built with -DWITH_BLIS)
 *   onednn    dnnl matmul, weights reordered once to the format it picks, bias + GELU +
 *             residual sum as post-ops                            (built with -DWITH_DNNL)
 *   own-*     src/cpu/gemm.c: weights packed once, epilogue fused, per ISA path
 *
 * Usage: gemm_bench [threads] [reps]   (medians of reps timed runs after 2 warm-ups)
 * Build: dev/cpu/build.sh */
#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "util/err.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(WITH_BLIS) && WITH_BLIS
#include <blis.h>
#else
#include <cblas.h>
#endif
#if defined(WITH_DNNL) && WITH_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

typedef struct shape {
    const char *name;
    int M, N, K;
    rfs_act act;
    int res; /* residual with a per-channel scale: y = r + s * (xW^T + b) */
} shape;

static const shape SHAPES[] = {
    {"vit.qkv", 677, 1152, 384, RFS_ACT_NONE, 0},
    {"vit.proj+res", 677, 384, 384, RFS_ACT_NONE, 1},
    {"vit.fc1+gelu", 677, 1536, 384, RFS_ACT_GELU, 0},
    {"vit.fc2+res", 677, 384, 1536, RFS_ACT_NONE, 1},
    {"pj.cv1", 676, 256, 1536, RFS_ACT_NONE, 0},
    {"pj.3x3(im2col)", 676, 128, 1152, RFS_ACT_NONE, 0},
    {"pj.cv2", 676, 256, 640, RFS_ACT_NONE, 0},
    {"dec.value", 676, 256, 256, RFS_ACT_NONE, 0},
    {"dec.ffn1+relu", 100, 2048, 256, RFS_ACT_RELU, 0},
    {"dec.ffn2", 100, 256, 2048, RFS_ACT_NONE, 0},
    {"seg.pw+gelu", 6084, 256, 256, RFS_ACT_GELU, 0},
    {"seg.masks", 100, 6084, 256, RFS_ACT_NONE, 0},
};
enum { NSHAPES = sizeof SHAPES / sizeof SHAPES[0] };

/* one thread: the thread's CPU time (time slices lost to other processes on this shared
 * machine do not count); more threads: wall time */
static int use_cpu_clock;
static double now(void) {
    struct timespec t;
    clock_gettime(use_cpu_clock ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *rvec(size_t n) {
    float *v = rfs_aligned_alloc(sizeof(float) * n);
    unsigned s = 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 1103515245u + 12345u;
        v[i] = ((s >> 8) & 0xffff) / 32768.f - 1.f;
    }
    return v;
}

typedef struct ctx {
    const shape *sh;
    float *x, *w, *b, *sc, *y, *r, *scratch, *ash;
    int nt;
    rfs_packed pk;
    rfs_cpu_isa isa;
#if defined(WITH_DNNL) && WITH_DNNL
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    dnnl_primitive_t prim;
    dnnl_memory_t msrc, mwei, mbia, mdst;
#endif
} ctx;

/* separate epilogue passes for the libraries without fusion */
static void post(ctx *c) {
    const shape *s = c->sh;
    if (!s->res) return;
#pragma omp parallel for num_threads(c->nt) schedule(static)
    for (int i = 0; i < s->M; i++)
        for (int j = 0; j < s->N; j++)
            c->y[(size_t)i * s->N + j] = c->r[(size_t)i * s->N + j] + c->sc[j] * c->y[(size_t)i * s->N + j];
}

/* the previous engine's rfs_linear_cpu: bias through beta = 1, activation as a pass */
static void run_openblas(ctx *c) {
    const shape *s = c->sh;
    for (int i = 0; i < s->M; i++) memcpy(c->y + (size_t)i * s->N, c->b, sizeof(float) * s->N);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, s->M, s->N, s->K, 1.f, c->x, s->K, c->w,
                s->K, 1.f, c->y, s->N);
    if (s->act != RFS_ACT_NONE) rfs_act_cpu(c->y, (size_t)s->M * s->N, s->act);
    post(c);
}

#if defined(WITH_BLIS) && WITH_BLIS
static void run_blis(ctx *c) {
    const shape *s = c->sh;
    float one = 1.f;
    for (int i = 0; i < s->M; i++) memcpy(c->y + (size_t)i * s->N, c->b, sizeof(float) * s->N);
    bli_sgemm(BLIS_NO_TRANSPOSE, BLIS_TRANSPOSE, s->M, s->N, s->K, &one, c->x, s->K, 1, c->w,
              s->K, 1, &one, c->y, s->N, 1);
    if (s->act != RFS_ACT_NONE) rfs_act_cpu(c->y, (size_t)s->M * s->N, s->act);
    post(c);
}
#endif

static void run_own(ctx *c) {
    const shape *s = c->sh;
    rfs_gemm_desc g = {.M = s->M, .w = &c->pk, .a = c->x, .lda = s->K, .act = s->act,
                       .res = s->res ? c->r : NULL, .ldr = s->N, .res_scale = s->res ? c->sc : NULL,
                       .c = c->y, .ldc = s->N};
    rfs_gemm(&g, c->isa, c->nt, c->scratch, rfs_gemm_scratch(s->K), c->ash);
}

#if defined(WITH_DNNL) && WITH_DNNL
#define DN(x)                                                                              \
    do {                                                                                   \
        dnnl_status_t st_ = (x);                                                           \
        if (st_ != dnnl_success) {                                                         \
            fprintf(stderr, "%s:%d: %s -> %d\n", __FILE__, __LINE__, #x, (int)st_);        \
            exit(1);                                                                       \
        }                                                                                  \
    } while (0)

static void dnnl_setup(ctx *c, dnnl_data_type_t dt) {
    const shape *s = c->sh;
    DN(dnnl_engine_create(&c->eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&c->strm, c->eng, dnnl_stream_default_flags));
    dnnl_memory_desc_t src_md, wany, bia_md, dst_md, wuser;
    dnnl_dims_t sd = {s->M, s->K}, wd = {s->K, s->N}, bd = {1, s->N}, dd = {s->M, s->N};
    dnnl_dims_t wstr = {1, s->K};
    DN(dnnl_memory_desc_init_by_tag(&src_md, 2, sd, dt, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&wany, 2, wd, dt, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&bia_md, 2, bd, dnnl_f32, dnnl_ab));
    DN(dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, dnnl_f32, dnnl_ab));
    DN(dnnl_memory_desc_init_by_strides(&wuser, 2, wd, dnnl_f32, wstr));
    dnnl_matmul_desc_t md;
    DN(dnnl_matmul_desc_init(&md, &src_md, &wany, &bia_md, &dst_md));
    dnnl_post_ops_t po;
    DN(dnnl_post_ops_create(&po));
    if (s->act == RFS_ACT_GELU) DN(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_erf, 0, 0));
    if (s->act == RFS_ACT_RELU) DN(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0, 0));
    if (s->res) {
        /* y = r + sc * (xW + b): scale by a per-column binary multiply, then the sum post-op */
        dnnl_memory_desc_t scmd;
        DN(dnnl_memory_desc_init_by_tag(&scmd, 2, bd, dnnl_f32, dnnl_ab));
        DN(dnnl_post_ops_append_binary(po, dnnl_binary_mul, &scmd));
        DN(dnnl_post_ops_append_sum(po, 1.f));
    }
    dnnl_primitive_attr_t attr;
    DN(dnnl_primitive_attr_create(&attr));
    DN(dnnl_primitive_attr_set_post_ops(attr, po));
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &md, attr, c->eng, NULL));
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    fprintf(stderr, "  onednn %s: %s\n", s->name, impl ? impl : "?");
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    DN(dnnl_primitive_create(&c->prim, pd));
    dnnl_memory_t muser;
    DN(dnnl_memory_create(&muser, &wuser, c->eng, c->w));
    DN(dnnl_memory_create(&c->mwei, wmd, c->eng, DNNL_MEMORY_ALLOCATE));
    dnnl_primitive_desc_t rpd;
    DN(dnnl_reorder_primitive_desc_create(&rpd, &wuser, c->eng, wmd, c->eng, NULL));
    dnnl_primitive_t reo;
    DN(dnnl_primitive_create(&reo, rpd));
    dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, muser}, {DNNL_ARG_TO, c->mwei}};
    DN(dnnl_primitive_execute(reo, c->strm, 2, rargs));
    DN(dnnl_stream_wait(c->strm));
    if (dt == dnnl_bf16) {
        /* source in bf16 (converted once here; a real engine converts per product) */
        dnnl_memory_desc_t sf32;
        DN(dnnl_memory_desc_init_by_tag(&sf32, 2, sd, dnnl_f32, dnnl_ab));
        dnnl_memory_t mf;
        DN(dnnl_memory_create(&mf, &sf32, c->eng, c->x));
        DN(dnnl_memory_create(&c->msrc, &src_md, c->eng, DNNL_MEMORY_ALLOCATE));
        dnnl_primitive_desc_t r2;
        DN(dnnl_reorder_primitive_desc_create(&r2, &sf32, c->eng, &src_md, c->eng, NULL));
        dnnl_primitive_t p2;
        DN(dnnl_primitive_create(&p2, r2));
        dnnl_exec_arg_t a2[2] = {{DNNL_ARG_FROM, mf}, {DNNL_ARG_TO, c->msrc}};
        DN(dnnl_primitive_execute(p2, c->strm, 2, a2));
        DN(dnnl_stream_wait(c->strm));
    } else {
        DN(dnnl_memory_create(&c->msrc, &src_md, c->eng, c->x));
    }
    DN(dnnl_memory_create(&c->mbia, &bia_md, c->eng, c->b));
    DN(dnnl_memory_create(&c->mdst, &dst_md, c->eng, c->y));
}

static void run_dnnl(ctx *c) {
    const shape *s = c->sh;
    dnnl_memory_t msc = NULL;
    int n = 4;
    dnnl_exec_arg_t args[6] = {{DNNL_ARG_SRC, c->msrc}, {DNNL_ARG_WEIGHTS, c->mwei},
                               {DNNL_ARG_BIAS, c->mbia}, {DNNL_ARG_DST, c->mdst}};
    if (s->res) {
        /* the sum post-op accumulates into dst: copy the residual in first (a real engine
         * computes in place on the running hidden state) */
        memcpy(c->y, c->r, sizeof(float) * (size_t)s->M * s->N);
        dnnl_memory_desc_t scmd;
        dnnl_dims_t bd = {1, s->N};
        dnnl_memory_desc_init_by_tag(&scmd, 2, bd, dnnl_f32, dnnl_ab);
        dnnl_memory_create(&msc, &scmd, c->eng, c->sc);
        args[n++] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1, msc};
    }
    DN(dnnl_primitive_execute(c->prim, c->strm, n, args));
    DN(dnnl_stream_wait(c->strm));
    if (msc) dnnl_memory_destroy(msc);
}
#endif

static double time_it(void (*fn)(ctx *), ctx *c, int reps) {
    double *t = malloc(sizeof(double) * reps);
    fn(c);
    fn(c);
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        fn(c);
        t[r] = now() - t0;
    }
    qsort(t, reps, sizeof(double), cmpd);
    double m = t[reps / 2];
    free(t);
    return m;
}

int main(int argc, char **argv) {
    int nt = argc > 1 ? atoi(argv[1]) : 1;
    int reps = argc > 2 ? atoi(argv[2]) : 15;
    omp_set_num_threads(nt);
    use_cpu_clock = nt == 1;
#if defined(WITH_BLIS) && WITH_BLIS
    bli_thread_set_num_threads(nt);
#endif
    rfs_cpu_isa top = rfs_cpu_isa_active();
    printf("threads %d, reps %d, isa %s; GFLOP/s (median, %s time)\n", nt, reps,
           rfs_cpu_isa_name(top), use_cpu_clock ? "thread CPU" : "wall");
    printf("%-16s %6s %6s %6s | %8s", "shape", "M", "N", "K", "openblas");
#if defined(WITH_BLIS) && WITH_BLIS
    printf(" %8s", "blis");
#endif
#if defined(WITH_DNNL) && WITH_DNNL
    printf(" %8s %8s", "onednn", "dnnl-bf16");
#endif
    printf(" %8s %8s %8s\n", "own-avx2", "own-512", "own-bf16");
    double tot[8] = {0};
    for (int si = 0; si < NSHAPES; si++) {
        const shape *s = &SHAPES[si];
        ctx c = {.sh = s, .nt = nt};
        c.x = rvec((size_t)s->M * s->K);
        c.w = rvec((size_t)s->N * s->K);
        c.b = rvec(s->N);
        c.sc = rvec(s->N);
        c.y = rvec((size_t)s->M * s->N);
        c.r = rvec((size_t)s->M * s->N);
        c.scratch = rfs_aligned_alloc(sizeof(float) * rfs_gemm_scratch(s->K) * nt);
        c.ash = rfs_aligned_alloc(sizeof(float) * rfs_gemm_shared(s->M, s->K));
        double fl = 2.0 * s->M * s->N * s->K * 1e-9;
        printf("%-16s %6d %6d %6d |", s->name, s->M, s->N, s->K);
        int col = 0;
        double t = time_it(run_openblas, &c, reps);
        tot[col++] += t;
        printf(" %8.1f", fl / t);
#if defined(WITH_BLIS) && WITH_BLIS
        t = time_it(run_blis, &c, reps);
        tot[col++] += t;
        printf(" %8.1f", fl / t);
#endif
#if defined(WITH_DNNL) && WITH_DNNL
        dnnl_setup(&c, dnnl_f32);
        t = time_it(run_dnnl, &c, reps);
        tot[col++] += t;
        printf(" %8.1f", fl / t);
        if (top >= RFS_ISA_AVX512BF16) {
            dnnl_setup(&c, dnnl_bf16);
            t = time_it(run_dnnl, &c, reps);
            tot[col++] += t;
            printf(" %8.1f", fl / t);
        } else {
            printf(" %8s", "-");
            col++;
        }
#endif
        rfs_cpu_isa paths[3] = {RFS_ISA_AVX2, RFS_ISA_AVX512, RFS_ISA_AVX512BF16};
        for (int p = 0; p < 3; p++) {
            if (paths[p] > top) {
                printf(" %8s", "-");
                col++;
                continue;
            }
            rfs_pack_linear(&c.pk, c.w, s->K, c.b, s->N, s->K, p == 2 ? RFS_WF_BF16 : RFS_WF_F32);
            c.isa = paths[p];
            t = time_it(run_own, &c, reps);
            tot[col++] += t;
            printf(" %8.1f", fl / t);
            rfs_packed_free(&c.pk);
        }
        printf("\n");
        fflush(stdout);
        free(c.x), free(c.w), free(c.b), free(c.sc), free(c.y), free(c.r), free(c.scratch), free(c.ash);
    }
    printf("%-37s |", "sum of medians, ms");
    int ncol = 4;
#if defined(WITH_BLIS) && WITH_BLIS
    ncol += 1;
#endif
#if defined(WITH_DNNL) && WITH_DNNL
    ncol += 2;
#endif
    for (int i = 0; i < ncol; i++) printf(" %8.2f", tot[i] * 1e3);
    printf("\n");
    return 0;
}
