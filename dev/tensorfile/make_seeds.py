"""Writes the fuzz seed corpus tests/fuzz/seeds_tensorfile/ (run with /usr/bin/python3).

Pickles are produced by Python's own pickler with stand-in `torch` modules, so their bytes
are what torch.save emits (torch uses the same pickler and persistent ids). Raw pickles
(files *.pkl) are wrapped into a zip by the fuzz target, whose storages are
arch/data/0..3 of 4096, 64, 0 and 1024 bytes; the seeds use those sizes so that they load.
Also writes small complete .pth zips and safetensors files.
"""
import argparse, collections, io, json, pathlib, pickle, struct, sys, types, zipfile
import numpy as np

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else 'tests/fuzz/seeds_tensorfile')
out.mkdir(parents=True, exist_ok=True)

torch = types.ModuleType('torch'); utils = types.ModuleType('torch._utils')
sys.modules['torch'] = torch; sys.modules['torch._utils'] = utils; torch._utils = utils
def _rebuild_tensor_v2(*a): pass
def _rebuild_parameter(*a): pass
for fn in (_rebuild_tensor_v2, _rebuild_parameter):
    fn.__module__ = 'torch._utils'; setattr(utils, fn.__name__, fn)
SIZES = {}
for name, size in [('FloatStorage', 4), ('HalfStorage', 2), ('BFloat16Storage', 2), ('LongStorage', 8),
                   ('IntStorage', 4), ('BoolStorage', 1), ('ByteStorage', 1), ('DoubleStorage', 8),
                   ('ComplexFloatStorage', 8)]:
    cls = type(name, (), {}); cls.__module__ = 'torch'; setattr(torch, name, cls); SIZES[name] = size

class Storage:
    def __init__(self, key, kind, nbytes): self.key, self.cls, self.numel = key, getattr(torch, kind), nbytes // SIZES[kind]
class Tensor:
    def __init__(self, st, offset, size, stride=None, param=False):
        if stride is None:
            stride, acc = [], 1
            for s in reversed(size): stride.insert(0, acc); acc *= s
        self.a = (st, offset, tuple(size), tuple(stride), False, collections.OrderedDict())
        self.param = param
    def __reduce_ex__(self, proto):
        if self.param:
            return (_rebuild_parameter, (Tensor(*self.a[:4]), True, collections.OrderedDict()))
        return (_rebuild_tensor_v2, self.a)
class P(pickle.Pickler):
    def persistent_id(self, obj):
        return ('storage', obj.cls, obj.key, 'cpu', obj.numel) if isinstance(obj, Storage) else None
def dumps(obj, proto):
    b = io.BytesIO(); P(b, protocol=proto).dump(obj); return b.getvalue()

# storages matching the fuzz target's wrapper
S0 = Storage('0', 'FloatStorage', 4096); S1 = Storage('1', 'HalfStorage', 64)
S2 = Storage('2', 'FloatStorage', 0); S3 = Storage('3', 'LongStorage', 1024)
def state_dict():
    sd = collections.OrderedDict()
    sd['w'] = Tensor(S0, 0, [16, 64])
    sd['wt'] = Tensor(S0, 3, [5, 7], [1, 9])          # strided view
    sd['h'] = Tensor(S1, 4, [2, 3, 4])                # half, offset
    sd['empty'] = Tensor(S2, 0, [0, 3])
    sd['l'] = Tensor(S3, 0, [128])
    sd['scalar'] = Tensor(S0, 1000, [])
    sd['p'] = Tensor(S0, 5, [10], param=True)         # nn.Parameter
    sd._metadata = collections.OrderedDict({'': {'version': 1}, 'w': {'version': 2}})
    return sd
args = argparse.Namespace(num_classes=5, lr=1e-4, out_feature_indexes=[2, 4, 6],
                          encoder='dinov2_windowed_small', resolution=96, amp=True, none=None,
                          path=pathlib.PosixPath('/tmp/x'), npf=np.float64(0.5), npi=np.int64(3),
                          big=2 ** 70, neg=-5, i32=-2 ** 31, b=b'bytes\x00', t=(1, 'a', None),
                          s={1, 2}, fs=frozenset([3]), d={'x': {'y': [1.5, -0.0]}, 1: 'int key'},
                          u='\u00fc\u20ac\U0001f600', cplx=Tensor(Storage('0', 'ComplexFloatStorage', 4096), 0, [4]))
shared = [1, 2]
args.shared = (shared, shared)  # memo reuse
files = {}
files['p2_model_args.pkl'] = dumps({'model': state_dict(), 'args': args}, 2)
files['p4_model_args.pkl'] = dumps({'model': state_dict(), 'args': args}, 4)
files['p2_ema.pkl'] = dumps({'model': state_dict(), 'ema_model': state_dict(), 'epoch': 3}, 2)
files['p2_bare.pkl'] = dumps(state_dict(), 2)
files['p5_bare.pkl'] = dumps(state_dict(), 5)

def pth(obj, storages, root='archive'):
    b = io.BytesIO()
    with zipfile.ZipFile(b, 'w', zipfile.ZIP_STORED) as z:
        z.writestr(f'{root}/data.pkl', dumps(obj, 2))
        z.writestr(f'{root}/byteorder', 'little')
        for key, data in storages.items(): z.writestr(f'{root}/data/{key}', data)
        z.writestr(f'{root}/version', '3\n')
    return b.getvalue()
pattern = bytes((i * 37 + 11) & 255 for i in range(4096))
files['small.pth'] = pth({'model': state_dict(), 'args': argparse.Namespace(num_classes=2)},
                         {'0': pattern, '1': pattern[:64], '2': b'', '3': pattern[:1024]})

def safetensors(tensors, meta=None):
    header, data = {}, b''
    if meta: header['__metadata__'] = meta
    for name, dt, shape, raw in tensors:
        header[name] = {'dtype': dt, 'shape': shape, 'data_offsets': [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    return struct.pack('<Q', len(h)) + h + data
files['small.safetensors'] = safetensors([
    ('a', 'F32', [2, 3], np.arange(6, dtype=np.float32).tobytes()),
    ('b.\u00fc', 'F16', [4], np.array([1, -2, 65504, 6e-8], np.float16).tobytes()),
    ('c', 'BF16', [1], b'\x80\x3f'), ('d', 'I64', [2], np.array([-1, 2 ** 40]).tobytes()),
    ('e', 'U8', [3, 1], b'\x00\x80\xff'), ('f', 'BOOL', [0], b''), ('g', 'F64', [], np.float64(0.1).tobytes()),
    ('h', 'I32', [1], b'\x01\x00\x00\x00'), ('i', 'I16', [1], b'\x01\x00'), ('j', 'I8', [1], b'\xff'),
], {'format': 'pt', 'esc': 'q"\\\n'})
files['empty.safetensors'] = safetensors([])

for name, data in files.items():
    assert len(data) < 64 * 1024, name
    (out / name).write_bytes(data)
    print(f'{name}: {len(data)} bytes')
