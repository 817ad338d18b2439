/* weights.cu - the model's weights on one device, in one precision: a per-device form of
 * the model (model.h), made on the first session that needs it and shared by all.
 *
 * Layer scale. x + ls * (W a + b) is computed as x + (ls W) a + ls b: the ViT's
 * attention.output.dense and mlp.fc2 rows are pre-scaled here, so the residual add is the
 * GEMM's accumulate (beta = 1) with no extra pass.
 *
 * Restacking. The decoder's per-layer matrices that forward.cu multiplies by the same
 * operand are copied next to each other (see cuda_weights), and the mask head's 1x1
 * spatial projection is transposed and augmented so it can be applied on the query side. */
#include "cuda/cuda.cuh"

#include <stdlib.h>
#include <string.h>

/* rows of w (rows, cols) and b (rows) scaled by s (rows) */
__global__ void scale_rows_kernel(float *w, float *b, const float *s, int rows, int cols) {
    const size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const int r = (int)(i / cols);
        w[i] *= s[r];
        if (i % cols == 0) b[r] *= s[r];
    }
}

/* [W_sp^T; b_sp; 0] (C+8, C) and its bias [0 (C), seg_bias, 0 (7)]; zeroed before */
__global__ void sp_aug_kernel(float *aug, float *aug_b, const float *wsp, const float *bsp,
                              const float *seg_bias, int C) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < C * C) {
        const int r = i / C, k = i % C; /* aug[r][k] = W_sp[k][r] */
        aug[i] = wsp[(size_t)k * C + r];
    }
    if (i < C) aug[(size_t)C * C + i] = bsp[i];
    if (i == 0) aug_b[C] = seg_bias[0];
}

static rfs_status dev_alloc(void **p, size_t bytes, const char *what) {
    if (cudaMalloc(p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();
        *p = NULL;
        return rfs_fail(RFS_ERR_NOMEM, "out of device memory: %s needs %.1f MiB", what,
                        bytes / (1024.0 * 1024.0));
    }
    return RFS_OK;
}

const void *rfs_cuda_wt(const cuda_weights *cw, const float *p) {
    if (cw->T == RFS_DT_F32) return p;
    if (p >= cw->warena && p < cw->warena + cw->wlen)
        return (const char *)cw->harena + (size_t)(p - cw->warena) * cw->tsz;
    RFS_CHECK(p >= cw->xarena && p < cw->xarena + cw->xlen);
    return (const char *)cw->xharena + (size_t)(p - cw->xarena) * cw->tsz;
}

static void weights_free(void *data) {
    cuda_weights *cw = (cuda_weights *)data;
    if (!cw) return;
    cudaSetDevice(cw->device);
    cudaDeviceSynchronize(); /* no lane of any session uses them any more */
    cudaFree(cw->harena);
    cudaFree(cw->warena);
    cudaFree(cw->xharena);
    cudaFree(cw->xarena);
    cudaGetLastError();
    free(cw);
}

static rfs_status weights_make(const rfs_model *m, int device, int kind, void **data,
                               void (**destroy)(void *)) {
    const rfs_config *c = &m->cfg;
    cuda_weights *cw = (cuda_weights *)calloc(1, sizeof *cw);
    if (!cw) return rfs_fail(RFS_ERR_NOMEM, "out of memory for the CUDA weights");
    cw->device = device;
    cw->T = (rfs_dtype)kind;
    cw->tsz = rfs_dtype_size(cw->T);
    rfs_status st = RFS_OK;
    rfs_binding *tab = NULL;
    cudaStream_t s = NULL;
    CUDA_CHECK(cudaSetDevice(device));
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    /* the host arena once, bound through the same table as the host copy */
    size_t len = 0;
    const int ntab = rfs_bindings_build(&tab, c, &len);
    if (ntab < 0) {
        st = rfs_fail(RFS_ERR_NOMEM, "out of memory building the binding table");
        goto fail;
    }
    RFS_CHECK(len == m->arena_len);
    if ((st = dev_alloc((void **)&cw->warena, len * sizeof(float), "weights")) != RFS_OK) goto fail;
    CUDA_CHECK(cudaMemcpyAsync(cw->warena, m->arena, len * sizeof(float), cudaMemcpyHostToDevice, s));
    rfs_bindings_apply(&cw->w, tab, ntab, cw->warena);
    cw->wlen = len;
    {
        /* decoder restacking (see cuda_weights): device-to-device copies of arena rows */
        const size_t C = c->hidden_dim, L = c->dec_layers;
        const size_t HP3 = (size_t)3 * c->ca_heads * c->dec_points;
        const size_t nqk = L * 3 * C * C, noff = L * HP3 * C, nval = L * C * C;
        const size_t nsp = (C + 8) * C;
        cw->xlen = nqk + noff + nval + L * C + nsp + (C + 8);
        if ((st = dev_alloc((void **)&cw->xarena, cw->xlen * sizeof(float), "weights")) != RFS_OK)
            goto fail;
        cw->qk_stack = cw->xarena, cw->off_stack = cw->qk_stack + nqk;
        cw->val_stack = cw->off_stack + noff, cw->val_bstack = cw->val_stack + nval;
        cw->sp_aug = cw->val_bstack + L * C, cw->sp_aug_b = cw->sp_aug + nsp;
        CUDA_CHECK(cudaMemsetAsync(cw->xarena, 0, cw->xlen * sizeof(float), s));
        sp_aug_kernel<<<nblocks(C * C, 256), 256, 0, s>>>(cw->sp_aug, cw->sp_aug_b,
            cw->w.seg_sp_w, cw->w.seg_sp_b, cw->w.seg_bias, (int)C);
        CUDA_LAUNCH_CHECK();
        for (size_t l = 0; l < L; l++) {
            const rfs_dec_layer *D = &cw->w.dec[l];
            CUDA_CHECK(cudaMemcpyAsync(cw->qk_stack + l * 3 * C * C, D->sa_in_w, 2 * C * C * sizeof(float),
                                       cudaMemcpyDeviceToDevice, s));
            CUDA_CHECK(cudaMemcpyAsync(cw->off_stack + l * HP3 * C, D->off_w, HP3 * C * sizeof(float),
                                       cudaMemcpyDeviceToDevice, s));
            CUDA_CHECK(cudaMemcpyAsync(cw->val_stack + l * C * C, D->val_w, C * C * sizeof(float),
                                       cudaMemcpyDeviceToDevice, s));
            CUDA_CHECK(cudaMemcpyAsync(cw->val_bstack + l * C, D->val_b, C * sizeof(float),
                                       cudaMemcpyDeviceToDevice, s));
        }
    }
    for (int i = 0; i < c->vit_layers; i++) { /* fold the layer scales (see top) */
        rfs_vit_layer *L = &cw->w.vit[i];
        const int D = c->vit_dim, Mm = c->vit_mlp;
        scale_rows_kernel<<<nblocks((size_t)D * D, 256), 256, 0, s>>>(L->o_w, L->o_b, L->ls1, D, D);
        CUDA_LAUNCH_CHECK();
        scale_rows_kernel<<<nblocks((size_t)D * Mm, 256), 256, 0, s>>>(L->fc2_w, L->fc2_b, L->ls2, D, Mm);
        CUDA_LAUNCH_CHECK();
    }
    if (cw->T != RFS_DT_F32) {
        if ((st = dev_alloc(&cw->harena, len * cw->tsz, "reduced-precision weights")) != RFS_OK)
            goto fail;
        rfs_convert_cuda(cw->harena, cw->T, cw->warena, RFS_DT_F32, len, s);
        if ((st = dev_alloc(&cw->xharena, cw->xlen * cw->tsz, "reduced-precision weights")) != RFS_OK)
            goto fail;
        rfs_convert_cuda(cw->xharena, cw->T, cw->xarena, RFS_DT_F32, cw->xlen, s);
    }
    CUDA_CHECK(cudaStreamSynchronize(s));
    CUDA_CHECK(cudaStreamDestroy(s));
    free(tab);
    *data = cw;
    *destroy = weights_free;
    return RFS_OK;
fail:
    if (s) {
        cudaStreamSynchronize(s);
        cudaStreamDestroy(s);
    }
    free(tab);
    weights_free(cw);
    return st;
}

const cuda_weights *rfs_cuda_weights_acquire(const rfs_model *m, int device, rfs_dtype T) {
    return (const cuda_weights *)rfs_model_form_acquire(m, RFS_BACKEND_CUDA, device, (int)T,
                                                        weights_make);
}

void rfs_cuda_weights_release(const rfs_model *m, const cuda_weights *cw) {
    if (cw) rfs_model_form_release(m, RFS_BACKEND_CUDA, cw->device, (int)cw->T);
}
