"""Hyperparameters of the reference classifier: the detector's names and checks (..hyper), other defaults.

`mosaic` and `copy_paste` are not used (a mosaic of four images has no one class; nothing has an outline to
paste); `turned` turns that share of the training windows by a quarter, half or three-quarter turn, as in the
detector. `resolution` 320 keeps the detail of 320 x 240 images (the training windows are 80 px: .data.CROP).
`colour` weighs the colour channels beside the edge maps (0 to 1); the default, any negative value, decides from
the training images: 1 where their colours alone tell the classes apart (.data.colour_tells_apart), else 0, the
edge maps only.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hyper import Hyper


@dataclass(frozen=True)
class ClassifierHyper(Hyper):
    UNUSED = ("mosaic", "copy_paste")  # the detector's: a job's values are logged and ignored

    resolution: int = 320       # longer side of the model input; the shorter follows the images' aspect ratio
    epochs: int = 65
    batch_size: int = 16
    learning_rate: float = 4e-3
    eval_every: int = 10        # validation every this many epochs (and after the last)
    warmup_epochs: int = 2
    mosaic: float = 0.0         # not used by the classifier
    copy_paste: float = 0.0     # not used by the classifier
    turned: float = 0.0
    seed: int = 0
    width: int = 16             # channels of the first stage; 6x at the deepest
    colour: float = -1.0        # weight of the colour channels, 0..1; negative: decided from the training images
