"""The training recipe: put any dropcore regularizer into a torchvision ResNet.

Example (the DropBlock paper's setting on ResNet-50)::

    import torchvision, dropcore as dc

    model = torchvision.models.resnet50()
    sched = dc.LinearSchedule(start_keep=1.0, end_keep=0.9, total_steps=steps)
    reg = dc.regularize(model, dc.Recipe(method="drop_block", p=0.1, block_size=7,
                                         stages=("layer3", "layer4"), where="both",
                                         schedule=sched))
    for step, (x, y) in enumerate(loader):
        reg.set_step(step)                    # the loop drives the schedule
        loss = F.cross_entropy(model(x), y)
        ...
    reg.dropped()                             # what each site really dropped last step
    reg.remove()                              # the plain model, same parameters
"""

from .blocks import RegularizedBlock
from .inject import Regularized, regularize
from .rng import MaskRng, mix_seed, process_seed
from .sites import ActivationSite, ClassifierDropout, DropConnectSite, Site
from .spec import Recipe

__all__ = [
    "ActivationSite",
    "ClassifierDropout",
    "DropConnectSite",
    "MaskRng",
    "Recipe",
    "Regularized",
    "RegularizedBlock",
    "Site",
    "mix_seed",
    "process_seed",
    "regularize",
]
