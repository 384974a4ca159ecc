"""Independent side of the SealedSecret compatibility tests (harness/tests/sealed_compat.rs).

Modes (JSON in files, results on stdout, errors on stderr, exit 1 on a mismatch):
  keygen DIR                          4096-bit RSA key (PKCS#1 PEM, as the controller stores it) and
                                      a self-signed certificate: DIR/key.pem, DIR/cert.pem
  unseal KEY SEALED EXPECTED          kubesealpy's Unsealer opens the SealedSecret (scope from its
                                      annotations) and a decryptor written here on `cryptography`
                                      opens every value too; both must give EXPECTED {key: base64}
  seal CERT SCOPE NS NAME VALUES      kubesealpy's Sealer seals VALUES {key: base64} for NS/NAME;
                                      prints the SealedSecret as JSON
Values are test values; they are compared here and never printed.
"""

import base64
import datetime
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID

import kubesealpy


def keygen(out):
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    with open(f"{out}/key.pem", "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    with open(f"{out}/cert.pem", "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def label_of(sealed):
    meta = sealed["metadata"]
    ann = meta.get("annotations") or {}
    if ann.get("sealedsecrets.bitnami.com/cluster-wide") == "true":
        return b""
    if ann.get("sealedsecrets.bitnami.com/namespace-wide") == "true":
        return meta["namespace"].encode()
    return f"{meta['namespace']}/{meta['name']}".encode()


def open_value(key, blob, label):
    """u16 big-endian length | RSA-OAEP(SHA-256, label) session key | AES-256-GCM, zero nonce."""
    n = int.from_bytes(blob[:2], "big")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)
    session = key.decrypt(blob[2:2 + n], oaep)
    return AESGCM(session).decrypt(b"\0" * 12, blob[2 + n:], None)


def unseal(key_path, sealed_path, expected_path):
    pem = open(key_path, "rb").read()
    sealed = json.load(open(sealed_path))
    expected = {k: base64.b64decode(v) for k, v in json.load(open(expected_path)).items()}
    secret = kubesealpy.Unsealer.from_private_key(
        serialization.load_pem_private_key(pem, password=None)
    ).unseal(kubesealpy.SealedSecret.model_validate(sealed))
    got = {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
    key = serialization.load_pem_private_key(pem, password=None)
    own = {k: open_value(key, base64.b64decode(v), label_of(sealed))
           for k, v in sealed["spec"]["encryptedData"].items()}
    for who, values in (("kubesealpy", got), ("cryptography", own)):
        if values != expected:
            print(f"{who}: unsealed keys {sorted(values)} do not match the expected values of keys "
                  f"{sorted(expected)}", file=sys.stderr)
            sys.exit(1)
    print(f"ok {len(expected)} values")


def seal(cert_path, scope, ns, name, values_path):
    values = {k: base64.b64decode(v) for k, v in json.load(open(values_path)).items()}
    sealer = kubesealpy.Sealer.from_certificate_pem(open(cert_path, "rb").read())
    sealed = sealer.seal(name=name, namespace=ns, data=values, scope=kubesealpy.SealingScope(scope))
    print(json.dumps(sealed.model_dump(by_alias=True, exclude_none=True)))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {"keygen": keygen, "unseal": unseal, "seal": seal}[mode](*args)
