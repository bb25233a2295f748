# Checks worked_vector.txt with an independent RFC 9180 implementation,
# python3-cryptography (>= 45, which has hazmat.primitives.hpke), not the
# project's code: every recipient unwraps the content key with its info;
# the content opens to the inner alert with the context as AAD. Run by hand:
#   python3 tests/testdata/sealed/check_vector.py tests/testdata/sealed/worked_vector.txt
import sys
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
f = {}
recips = []
infos = []
for line in open(sys.argv[1]):
    if line.startswith('#') or not line.strip(): continue
    k, v = line.rstrip('\n').split(': ', 1)
    if k == 'recipient': recips.append(v.split())
    elif k == 'info': infos.append(bytes.fromhex(v))
    else: f[k] = bytes.fromhex(v)
outer = f['outer']
# Minimal protobuf walk: field 19 (sealed) -> 1 nonce, 2 ciphertext, 3 keys{1 node,2 epoch,3 enc,4 wrapped}
def varint(b, i):
    r = s = 0
    while True:
        c = b[i]; i += 1; r |= (c & 0x7f) << s; s += 7
        if c < 0x80: return r, i
def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i); fn, wt = key >> 3, key & 7
        if wt == 0: v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i); v = b[i:i+n]; i += n
        else: raise ValueError(wt)
        yield fn, v
sealed = [v for fn, v in fields(outer) if fn == 19][0]
sf = list(fields(sealed))
nonce = [v for fn, v in sf if fn == 1][0]
ct = [v for fn, v in sf if fn == 2][0]
keys = [dict(fields(v)) for fn, v in sf if fn == 3]
suite = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
sk_of = {r[0]: bytes.fromhex(r[2]) for r in recips}
for k, info in zip(keys, infos):
    node = k[1].decode()
    sk = X25519PrivateKey.from_private_bytes(sk_of[node])
    ck = suite.decrypt(k[3] + k[4], sk, info=info)   # enc || ct
    assert ck == f['content_key'], node
    print('unwrapped content key for', node, 'epoch', k.get(2, 0))
inner = AESGCM(f['content_key']).decrypt(nonce, ct, f['context'])
assert inner == f['inner']
print('content opens to the inner alert:', len(inner), 'bytes; nonce', nonce.hex() == f['nonce'].hex())
