"""Checkpoint layouts of newer rfdetr releases, written with the standard library only.

Debian has no torch, so this module reads a torch.save archive and writes new ones itself:
data.pkl goes through CPython's own pickle.Pickler (protocol 2, the default of torch.save)
with storages as persistent ids ('storage', torch.<T>Storage, key, 'cpu', numel) and tensors
reduced to torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False,
OrderedDict()), exactly the records torch.save emits; the classes it names are stand-ins
registered under their real module names (torch, lightning.fabric.utilities.data) while a
file is written, so the pickle refers to them the way a real checkpoint does. Storages are
stored uncompressed as <root>/data/<key>, with <root>/byteorder and <root>/version.

    src = read_checkpoint(path)             # {"model": {name: Tensor}, "args": Namespace, ...}
    write_checkpoint(dst, obj)              # any mix of dicts, lists, Namespaces, Tensors
"""
import argparse
import collections
import contextlib
import sys
import types
import zipfile

# torch storage classes by element size (only the ones these tests need)
STORAGE_ITEMSIZE = {"FloatStorage": 4, "DoubleStorage": 8, "HalfStorage": 2, "BFloat16Storage": 2,
                    "LongStorage": 8, "IntStorage": 4, "ByteStorage": 1, "BoolStorage": 1}


class Storage:
    """One storage: its torch class name and raw little-endian bytes."""

    def __init__(self, cls, data):
        self.cls, self.data = cls, bytes(data)

    @property
    def numel(self):
        return len(self.data) // STORAGE_ITEMSIZE[self.cls]


class Tensor:
    """A strided view of a storage, as _rebuild_tensor_v2 receives it."""

    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    @staticmethod
    def new(cls, data, size):
        """A contiguous tensor over a fresh storage."""
        stride, s = [], 1
        for d in reversed(size):
            stride.insert(0, s)
            s *= d
        return Tensor(Storage(cls, data), 0, size, stride)

    def __reduce_ex__(self, protocol):
        return (_fake["torch._utils"]._rebuild_tensor_v2,
                (self.storage, self.offset, self.size, self.stride, False, collections.OrderedDict()))


# ---- reading ---------------------------------------------------------------------------------

def read_checkpoint(path):
    """The unpickled object of a torch.save archive; tensors become Tensor, storages Storage,
    argparse.Namespace stays a Namespace."""
    z = zipfile.ZipFile(path)
    pkl = next(n for n in z.namelist() if n.endswith("/data.pkl"))
    root = pkl[: -len("data.pkl")]
    storages = {}

    class Unpickler(__import__("pickle").Unpickler):
        def find_class(self, module, name):
            if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
                return lambda st, off, size, stride, *rest: Tensor(st, off, size, stride)
            if (module, name) == ("torch._utils", "_rebuild_parameter"):
                return lambda data, *rest: data
            if module == "torch" and name in STORAGE_ITEMSIZE:
                return name
            if (module, name) == ("collections", "OrderedDict"):
                return collections.OrderedDict
            if (module, name) == ("argparse", "Namespace"):
                return argparse.Namespace
            raise ValueError("unexpected global %s.%s" % (module, name))

        def persistent_load(self, pid):
            kind, cls, key, location, numel = pid
            assert kind == "storage"
            if key not in storages:
                storages[key] = Storage(cls, z.read(root + "data/" + key))
            return storages[key]

    import io
    return Unpickler(io.BytesIO(z.read(pkl))).load()


# ---- writing ---------------------------------------------------------------------------------

_fake = {}


def _fake_modules():
    """Stand-in modules for the globals a checkpoint names, created once."""
    if _fake:
        return _fake
    torch = types.ModuleType("torch")
    for cls in STORAGE_ITEMSIZE:
        c = type(cls, (), {"__module__": "torch"})
        setattr(torch, cls, c)
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*a):
        raise RuntimeError("stand-in")
    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    data = types.ModuleType("lightning.fabric.utilities.data")

    class AttributeDict(dict):
        """Lightning's hyper_parameters container (a dict subclass)."""

        def __getattr__(self, key):
            return self[key]
    AttributeDict.__module__ = "lightning.fabric.utilities.data"
    AttributeDict.__qualname__ = "AttributeDict"
    data.AttributeDict = AttributeDict
    _fake.update({"torch": torch, "torch._utils": utils, "lightning.fabric.utilities.data": data})
    for parent in ("lightning", "lightning.fabric", "lightning.fabric.utilities"):
        _fake[parent] = types.ModuleType(parent)
    return _fake


@contextlib.contextmanager
def _installed():
    mods = _fake_modules()
    saved = {k: sys.modules.get(k) for k in mods}
    if any(v is not None and v is not mods[k] for k, v in saved.items()):
        raise RuntimeError("a real torch/lightning is importable here; these stand-ins would shadow it")
    sys.modules.update(mods)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)


def attribute_dict(d):
    """Lightning's AttributeDict holding d."""
    return _fake_modules()["lightning.fabric.utilities.data"].AttributeDict(d)


def write_checkpoint(path, obj, root="archive"):
    """Writes obj as torch.save does (pickle protocol 2, storages as persistent ids)."""
    import io
    import pickle
    keys = {}  # id(storage) -> key, in order of first appearance
    order = []
    with _installed():
        torch = sys.modules["torch"]

        class Pickler(pickle.Pickler):
            def persistent_id(self, o):
                if not isinstance(o, Storage):
                    return None
                if id(o) not in keys:
                    keys[id(o)] = str(len(keys))
                    order.append(o)
                return ("storage", getattr(torch, o.cls), keys[id(o)], "cpu", o.numel)

        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(root + "/data.pkl", buf.getvalue())
        z.writestr(root + "/byteorder", "little")
        for st in order:
            z.writestr(root + "/data/" + keys[id(st)], st.data)
        z.writestr(root + "/version", "3\n")
        z.writestr(root + "/.data/serialization_id", "0000000000000000000000000000000000000000")
