"""Rich values a run logs at a step, beside its scalars: images, tables, histograms, plots,
audio, text, HTML and video. Each is checked and copied when it is made (cheap, in the
training loop), and encoded to bytes stored by content later, in the writer's thread
(docs/tracking.md)."""

from assay.media.audio import Audio
from assay.media.boxes import BoxLayer
from assay.media.codec import decode, encode
from assay.media.histogram import Histogram
from assay.media.html import Html
from assay.media.image import Image
from assay.media.plot import Plot
from assay.media.table import Table
from assay.media.text import Text
from assay.media.value import Encoded, Value
from assay.media.video import Video

__all__ = [
    "Audio",
    "BoxLayer",
    "Encoded",
    "Histogram",
    "Html",
    "Image",
    "Plot",
    "Table",
    "Text",
    "Value",
    "Video",
    "decode",
    "encode",
]
