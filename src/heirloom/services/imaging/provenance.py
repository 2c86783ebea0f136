"""The note every result carries in its metadata: made with AI, in words and as IPTC's digital
source type, so viewers and platforms that read XMP can tell. It names no person, job or user.
"""

from __future__ import annotations

from typing import Final

from PIL import PngImagePlugin

# IPTC NewsCodes "Digital Source Type": media created by an algorithm trained on sampled content.
DIGITAL_SOURCE_TYPE: Final = (
    "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
)
AI_NOTE: Final = "Restored with AI (Heirloom): the model redrew this photo; it is not the original."
CREATOR_TOOL: Final = "Heirloom"

XMP: Final = (
    '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description rdf:about=""'
    ' xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"'
    ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
    f' Iptc4xmpExt:DigitalSourceType="{DIGITAL_SOURCE_TYPE}"'
    f' xmp:CreatorTool="{CREATOR_TOOL}">'
    f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{AI_NOTE}</rdf:li></rdf:Alt>'
    "</dc:description>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
    '<?xpacket end="r"?>'
).encode()


def png_info() -> PngImagePlugin.PngInfo:
    """PNG text chunks with the note: plain `Description` and `Software`, and the XMP packet
    under the key XMP readers look for."""
    info = PngImagePlugin.PngInfo()
    info.add_text("Description", AI_NOTE)
    info.add_text("Software", CREATOR_TOOL)
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    return info
