"""Writes a seg-nano sized (33.6M floats, 544 tensors, ~134 MB) torch.save-format checkpoint
with random bytes, for timing the reader: /usr/bin/python3 dev/tensorfile/make_big.py OUT.pth"""
import collections, io, pickle, sys, types, zipfile

torch = types.ModuleType('torch'); utils = types.ModuleType('torch._utils')
sys.modules['torch'] = torch; sys.modules['torch._utils'] = utils
def _rebuild_tensor_v2(*a): pass
_rebuild_tensor_v2.__module__ = 'torch._utils'; utils._rebuild_tensor_v2 = _rebuild_tensor_v2
FloatStorage = type('FloatStorage', (), {}); FloatStorage.__module__ = 'torch'; torch.FloatStorage = FloatStorage
class S:
    def __init__(self, key, n): self.key, self.n = key, n
class T:
    def __init__(self, s, shape): self.s, self.shape = s, shape
    def __reduce_ex__(self, p):
        st, acc = [], 1
        for d in reversed(self.shape): st.insert(0, acc); acc *= d
        return (_rebuild_tensor_v2, (self.s, 0, tuple(self.shape), tuple(st), False, collections.OrderedDict()))
class P(pickle.Pickler):
    def persistent_id(self, o): return ('storage', FloatStorage, o.key, 'cpu', o.n) if isinstance(o, S) else None
import os
sd = collections.OrderedDict(); data = {}
total = 33577475; n = 544; per = total // n
for i in range(n):
    k = str(i); cnt = per if i < n - 1 else total - per * (n - 1)
    sd[f'layer.{i}.weight'] = T(S(k, cnt), [cnt])
    data[k] = os.urandom(4 * cnt)
b = io.BytesIO(); P(b, protocol=2).dump({'model': sd}); 
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_STORED) as z:
    z.writestr('big/data.pkl', b.getvalue()); z.writestr('big/byteorder', 'little')
    for k, v in data.items(): z.writestr(f'big/data/{k}', v)
