import cv2, numpy as np, struct
rng=np.random.default_rng(0)
img=rng.integers(0,256,(5,7,3),dtype=np.uint8)
ok,jpg=cv2.imencode('.jpg',img,[cv2.IMWRITE_JPEG_QUALITY,100]); jpg=jpg.tobytes()
base=cv2.imdecode(np.frombuffer(jpg,np.uint8),cv2.IMREAD_COLOR|cv2.IMREAD_IGNORE_ORIENTATION)
def tiff(entries, le=True):
    e='<' if le else '>'
    b=(b'II' if le else b'MM')+struct.pack(e+'HI',42,8)+struct.pack(e+'H',len(entries))
    for tag,typ,cnt,val in entries: b+=struct.pack(e+'HHI',tag,typ,cnt)+val
    b+=struct.pack(e+'I',0); return b
def short(v,le=True): return struct.pack(('<' if le else '>')+'HH',v,0)
def app1(payload,hdr=b'Exif\0\0'):
    d=hdr+payload; return b'\xff\xe1'+struct.pack('>H',len(d)+2)+d
def ins(j,*segs): return j[:2]+b''.join(segs)+j[2:]
def dec(b,f=cv2.IMREAD_COLOR): return cv2.imdecode(np.frombuffer(b,np.uint8),f)
def which(r):
    cands={1:base,2:base[:,::-1],3:base[::-1,::-1],4:base[::-1],5:base.transpose(1,0,2),6:base.transpose(1,0,2)[:,::-1],7:base.transpose(1,0,2)[::-1,::-1],8:base.transpose(1,0,2)[::-1]}
    return [k for k,v in cands.items() if v.shape==r.shape and (v==r).all()]
for o in range(1,9):
    print(o, which(dec(ins(jpg,app1(tiff([(0x112,3,1,short(o))]))))), which(dec(ins(jpg,app1(tiff([(0x112,3,1,short(o,False))],False),)))))
print('xmp first', which(dec(ins(jpg,app1(b'http://ns.adobe.com/xap/1.0/\0<x/>',b''),app1(tiff([(0x112,3,1,short(6))]))))))
print('no Exif hdr', which(dec(ins(jpg,app1(tiff([(0x112,3,1,short(6))]),b'ABCDEF')))))
print('two orient', which(dec(ins(jpg,app1(tiff([(0x112,3,1,short(6)),(0x112,3,1,short(3))]))))))
print('bad before', which(dec(ins(jpg,app1(tiff([(0x11a,5,1,struct.pack('<I',9999)),(0x112,3,1,short(6))]))))))
print('bad after', which(dec(ins(jpg,app1(tiff([(0x112,3,1,short(6)),(0x11a,5,1,struct.pack('<I',9999))]))))))
print('orient 9', which(dec(ins(jpg,app1(tiff([(0x112,3,1,short(9))]))))))
print('type long', which(dec(ins(jpg,app1(tiff([(0x112,4,1,struct.pack('<I',6))]))))))
print('ignore', which(dec(ins(jpg,app1(tiff([(0x112,3,1,short(6))]))),cv2.IMREAD_COLOR|cv2.IMREAD_IGNORE_ORIENTATION)))
# APP0 after? exif in APP1 after other APPn
print('after app2', which(dec(ins(jpg,b'\xff\xe2\x00\x04ab',app1(tiff([(0x112,3,1,short(6))]))))))
# PNG eXIf
import zlib
ok,png=cv2.imencode('.png',img); png=png.tobytes()
def chunk(t,d): return struct.pack('>I',len(d))+t+d+struct.pack('>I',zlib.crc32(t+d))
pe=png[:33]+chunk(b'eXIf',tiff([(0x112,3,1,short(6))]))+png[33:]
r=dec(pe); print('png exif', r.shape, (r.shape==img.shape and (r==img).all()))
print('png exif before idat', which_png := None)
basep=img
def whichp(r,b):
    cands={1:b,2:b[:,::-1],3:b[::-1,::-1],4:b[::-1],5:b.transpose(1,0,2),6:b.transpose(1,0,2)[:,::-1],7:b.transpose(1,0,2)[::-1,::-1],8:b.transpose(1,0,2)[::-1]}
    return [k for k,v in cands.items() if v.shape==r.shape and (v==r).all()]
for o in (3,6,8):
    pe=png[:33]+chunk(b'eXIf',tiff([(0x112,3,1,short(o))]))+png[33:]
    iend=len(png)-12
    pa=png[:iend]+chunk(b'eXIf',tiff([(0x112,3,1,short(o))]))+png[iend:]
    print(o, whichp(dec(pe),img), whichp(dec(pa),img))
# eXIf with Exif\0\0 prefix
pe=png[:33]+chunk(b'eXIf',b'Exif\0\0'+tiff([(0x112,3,1,short(6))]))+png[33:]
print('png exif prefixed', whichp(dec(pe),img))
iend=len(png)-12
pb=png[:33]+chunk(b'eXIf',tiff([(0x112,3,1,short(3))]))+png[33:iend]+chunk(b'eXIf',tiff([(0x112,3,1,short(6))]))+png[iend:]
print('before3 after6', whichp(dec(pb),img))
pb=png[:33]+chunk(b'eXIf',tiff([(0x11a,5,1,struct.pack('<I',9999))]))+png[33:iend]+chunk(b'eXIf',tiff([(0x112,3,1,short(6))]))+png[iend:]
print('before bad, after6', whichp(dec(pb),img))
pb=png[:33]+chunk(b'eXIf',tiff([(0x100,3,1,short(3))]))+png[33:iend]+chunk(b'eXIf',tiff([(0x112,3,1,short(6))]))+png[iend:]
print('before other tag, after6', whichp(dec(pb),img))
