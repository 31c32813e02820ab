"""tests/e2e/content_msgs.py - messages for the content-security tests, made at test time.

EICAR is assembled here from a reversed copy, so no file in the repository is
an EICAR sample; archives, bombs and Office files are built in memory with
the standard library. Used by tests/e2e/test_content.py and bench/content.sh.
"""
import binascii
import email.policy
import io
import struct
import tarfile
import time
import zipfile
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

EICAR = bytes(reversed(b"*H+H$!ELIF-TSET-SURIVITNA-DRADNATS-RACIE$}7)CC7)^P(45XZP\\4[PA@%P!O5X"))
assert len(EICAR) == 68


def headers(msg, subject):
    msg["From"] = "Alice <alice@example.net>"
    msg["To"] = "bob@example.com"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 12:00:00 +0000"
    msg["Message-ID"] = "<%d@content.example.net>" % time.time_ns()
    return msg


def zip_bytes(members, compression=zipfile.ZIP_DEFLATED):
    """members: [(name, bytes)] -> zip file bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


def with_attachment(subject, name, data, ctype="application/octet-stream", text="see attached"):
    outer = MIMEMultipart()
    headers(outer, subject)
    outer.attach(MIMEText(text))
    maintype, subtype = ctype.split("/", 1)
    part = MIMEApplication(data, subtype, name=name) if maintype == "application" else None
    if part is None:
        part = EmailMessage()
        part.set_content(data, maintype=maintype, subtype=subtype, filename=name)
    if part["Content-Disposition"] is None:
        part.add_header("Content-Disposition", "attachment", filename=name)
    outer.attach(part)
    return outer.as_bytes(policy=email.policy.SMTP)


def uu_block(name, data):
    lines = ["begin 644 %s" % name]
    for i in range(0, len(data), 45):
        lines.append(binascii.b2a_uu(data[i:i + 45]).decode().rstrip("\n"))
    lines += ["`", "end"]
    return "\r\n".join(lines) + "\r\n"


def eicar_variants():
    """{label: (message bytes, expected part path fragment)}"""
    out = {}
    out["plain attachment"] = (with_attachment("eicar plain", "eicar.com", EICAR), "2")
    out["inside zip"] = (with_attachment("eicar zip", "eicar.zip",
                                         zip_bytes([("eicar.com", EICAR)]),
                                         "application/zip"), "zip:eicar.com")
    # zip inside zip inside a forwarded message/rfc822
    inner_zip = zip_bytes([("inner.zip", zip_bytes([("eicar.com", EICAR)]))])
    inner = MIMEMultipart()
    headers(inner, "the original")
    inner.attach(MIMEText("original text"))
    att = MIMEApplication(inner_zip, "zip", name="outer.zip")
    att.add_header("Content-Disposition", "attachment", filename="outer.zip")
    inner.attach(att)
    fwd = MIMEMultipart()
    headers(fwd, "Fwd: the original")
    fwd.attach(MIMEText("forwarding this"))
    fwd.attach(MIMEMessage(inner))
    out["zip in zip in rfc822"] = (fwd.as_bytes(policy=email.policy.SMTP),
                                   "zip:inner.zip/zip:eicar.com")
    # base64 as the only body of a single-part message
    single = ("From: alice@example.net\r\nTo: bob@example.com\r\nSubject: eicar b64\r\n"
              "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <b64@example.net>\r\n"
              "MIME-Version: 1.0\r\nContent-Type: application/octet-stream; name=eicar.com\r\n"
              "Content-Transfer-Encoding: base64\r\n\r\n" +
              binascii.b2a_base64(EICAR).decode() + "\r\n")
    out["base64 single part"] = (single.encode(), "1")
    # uuencoded inside the text of a plain message, as old mailers did
    uu = ("From: alice@example.net\r\nTo: bob@example.com\r\nSubject: eicar uu\r\n"
          "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <uu@example.net>\r\n\r\n"
          "Here it is:\r\n\r\n" + uu_block("eicar.com", EICAR) + "\r\nbye\r\n")
    out["uuencoded inline"] = (uu.encode(), "uu:eicar.com")
    # uuencode as a Content-Transfer-Encoding
    xuu = ("From: alice@example.net\r\nTo: bob@example.com\r\nSubject: eicar x-uue\r\n"
           "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <xuu@example.net>\r\n"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
           "--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\n"
           "Content-Type: application/octet-stream; name=eicar.com\r\n"
           "Content-Transfer-Encoding: x-uuencode\r\n\r\n" + uu_block("eicar.com", EICAR) +
           "--b1--\r\n")
    out["x-uuencode part"] = (xuu.encode(), "2")
    return out


def zip_bomb(levels=3, copies=16, inner_mb=64):
    """42.zip style: COPIES copies of a zip of INNER_MB megabytes of zeros, nested LEVELS deep."""
    layer = zip_bytes([("zeros.bin", b"\0" * (inner_mb << 20))])
    for level in range(levels):
        n = copies if level == 0 else 1
        layer = zip_bytes([("lvl%d-%02d.zip" % (level, i), layer) for i in range(n)],
                          zipfile.ZIP_STORED if level == 0 else zipfile.ZIP_DEFLATED)
    return with_attachment("42 style bomb", "42.zip", layer, "application/zip")


def nested_multipart(levels=1000):
    head = ("From: alice@example.net\r\nTo: bob@example.com\r\nSubject: deep\r\n"
            "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\nMessage-ID: <deep@example.net>\r\n"
            "MIME-Version: 1.0\r\n")
    body = ["Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n"]
    for i in range(1, levels):
        body.append("--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n" % (i - 1, i))
    body.append("--b%d\r\nContent-Type: text/plain\r\n\r\nbottom\r\n--b%d--\r\n" % (levels - 1,
                                                                              levels - 1))
    for i in range(levels - 2, -1, -1):
        body.append("--b%d--\r\n" % i)
    return (head + "".join(body)).encode()


def many_members(count=100000):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for i in range(count):
            info = tarfile.TarInfo("e%06d" % i)
            info.size = 0
            t.addfile(info, io.BytesIO(b""))
    return with_attachment("many members", "many.tar.gz", buf.getvalue(), "application/gzip")


def fake_pe():
    mz = bytearray(b"MZ\x90\x00" + b"\x00" * 56)
    mz[60:64] = struct.pack("<I", 64)
    pe = b"PE\x00\x00" + struct.pack("<HHIIIHH", 0x14c, 1, 0, 0, 0, 0xe0, 0x102) + b"\x00" * 0xe0
    return bytes(mz) + pe + b"This program cannot be run in DOS mode.\r\n" + b"\x00" * 200


def vba_project(autorun=True):
    """Enough of an OLE2 VBA container for type checks and rules: header, names, source."""
    ole = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504
    ole += "_VBA_PROJECT".encode("utf-16-le") + b"\x00" * 20 + "VBA".encode("utf-16-le")
    ole += b"\x00" * 40 + b"Attribute VB_Name = \"ThisDocument\"\r\n"
    ole += (b"Sub AutoOpen()\r\n" if autorun else b"Sub Helper()\r\n") + b"  MsgBox 1\r\nEnd Sub\r\n"
    return ole + b"\x00" * (1024 - len(ole) % 512)


CONTENT_TYPES = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                 b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                 b'<Default Extension="xml" ContentType="application/xml"/>'
                 b'<Override PartName="/word/document.xml" ContentType="application/'
                 b'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
                 b'</Types>')
DOCUMENT = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
            b'<w:body><w:p><w:r><w:t>Quarterly figures</w:t></w:r></w:p></w:body></w:document>')


def docx(macro=None):
    members = [("[Content_Types].xml", CONTENT_TYPES), ("word/document.xml", DOCUMENT)]
    if macro is not None:
        members.append(("word/vbaProject.bin", macro))
    return zip_bytes(members)


def clean_pdf():
    return (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
            b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
            b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\n"
            b"trailer<</Root 1 0 R>>\n%%EOF\n")


def policy_cases():
    """{label: (message, banned symbol expected or None)}"""
    return {
        "invoice.pdf.exe": (with_attachment("double", "invoice.pdf.exe", b"not really a program"),
                            "MIME_BANNED_DOUBLE_EXT"),
        "exe renamed pdf": (with_attachment("renamed", "report.pdf", fake_pe(), "application/pdf"),
                            "MIME_BANNED_TYPE"),
        "docm with AutoOpen": (with_attachment(
            "macro", "budget.docm", docx(vba_project()),
            "application/vnd.ms-word.document.macroEnabled.12"), "MIME_BANNED_MACRO"),
        "exe inside zip": (with_attachment("zipped", "photos.zip",
                                           zip_bytes([("photo.jpg.exe", fake_pe())]),
                                           "application/zip"), "MIME_BANNED_ARCHIVE_EXE"),
        "clean pdf": (with_attachment("pdf", "report.pdf", clean_pdf(), "application/pdf"), None),
        "clean docx": (with_attachment(
            "docx", "report.docx", docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"), None),
    }
