"""Reads a torch.save zip without torch (stub classes), prints facts used by the C tests."""
import pickle, zipfile, sys, collections, numpy as np
DT = {'FloatStorage': np.float32, 'HalfStorage': np.float16, 'LongStorage': np.int64,
      'DoubleStorage': np.float64, 'IntStorage': np.int32, 'BoolStorage': np.bool_, 'ByteStorage': np.uint8}
class Stub:
    def __init__(self, name): self.name = name
    def __call__(self, *a, **k): return ('obj', self.name, a)
def rebuild(storage, offset, size, stride, *rest): return ('tensor', storage, offset, size, stride)
class NS:
    def __init__(self, *a): pass
    def __setstate__(self, st): self.__dict__.update(st)
class U(pickle.Unpickler):
    def find_class(self, mod, name):
        if (mod, name) == ('torch._utils', '_rebuild_tensor_v2'): return rebuild
        if (mod, name) == ('collections', 'OrderedDict'): return collections.OrderedDict
        if (mod, name) == ('argparse', 'Namespace'): return NS
        if mod == 'torch': return name
        return Stub(mod + '.' + name)
    def persistent_load(self, pid): return pid
path = sys.argv[1]
z = zipfile.ZipFile(path)
root = z.namelist()[0].split('/')[0]
obj = U(z.open(root + '/data.pkl')).load()
sd = obj['model']
print('count', len(sd))
tot = 0; s = 0.0; s2 = 0.0
for k, t in sd.items():
    _, pid, off, size, stride = t
    _, st, key, loc, numel = pid
    a = np.frombuffer(z.read(f'{root}/data/{key}'), DT[st])
    v = np.lib.stride_tricks.as_strided(a[off:], shape=size, strides=[x * a.itemsize for x in stride]) if size else a[off:off+1].reshape(())
    n = int(np.prod(size)) if size else 1
    tot += n; s += float(v.astype(np.float64).sum()); s2 += float((v.astype(np.float64) ** 2).sum())
    contig = list(stride) == [int(np.prod(size[i+1:])) for i in range(len(size))]
    if off or not contig or st != 'FloatStorage' or k in ('class_embed.bias', 'query_feat.weight', 'refpoint_embed.weight'):
        print(' ', k, st, key, off, size, stride, 'sum=%.9g' % v.astype(np.float64).sum(), 'first', v.reshape(-1)[:3])
print('numel', tot, 'sum %.12g sumsq %.12g' % (s, s2))
a = obj['args'].__dict__
print({k: a[k] for k in ['num_classes', 'out_feature_indexes', 'resolution', 'encoder', 'lr', 'amp', 'projector_scale', 'num_windows']})
print([k for k in obj.keys()])
