"""Every URL-bound control of DropLab, with its range, default and explanation.

The URL parameter names are short on purpose: they are what people paste into chats.
Pages share these specs, so ``keep`` means the same thing on every page.
"""

from __future__ import annotations

from dropcore.gamma import GAMMA_MODES, SEEDINGS, GammaMode, Seeding
from dropcore.probe.settings import METHODS, STAGES, WHERE
from dropcore.schedule import drop_probability  # p = 1 - keep_prob, for the pages
from models.images import SAMPLES

from .controls import Choice, Flag, Multi, Number, Slider

__all__ = [
    "BLOCK",
    "BLOCK_MAX",
    "CAM_LAYER",
    "COMPARISON",
    "DEPTH",
    "DRAWS",
    "END_KEEP",
    "FIX",
    "GAMMA",
    "GAMMA_SEEDING",
    "GROUPS",
    "IMAGE",
    "INVERTED",
    "KEEP",
    "L2_DECAY",
    "MAP_H",
    "MAP_W",
    "MASK_STAGE",
    "METHOD",
    "METHOD_LABELS",
    "PER_CHANNEL",
    "PRUNE",
    "SCHEDULE",
    "SEED",
    "SEEDING",
    "SITE",
    "STAGES_CONTROL",
    "START_KEEP",
    "STEP",
    "TOTAL_STEPS",
    "WHERE_CONTROL",
    "drop_probability",
]

METHOD_LABELS: dict[str, str] = {
    "none": "None",
    "dropout": "Dropout",
    "spatial_dropout": "SpatialDropout",
    "drop_block": "DropBlock",
    "drop_path": "DropPath",
    "drop_connect": "DropConnect",
}

# The four DropBlock variants the pages compare: (gamma, seeding).
GAMMA_SEEDING: tuple[tuple[GammaMode, Seeding], ...] = (
    ("exact", "uniform"),
    ("exact", "valid"),
    ("paper", "valid"),
    ("paper", "uniform"),
)

# Groups a teacher can fix for a class ("hide" control); label shown in that control.
GROUPS: dict[str, str] = {
    "image": "Image",
    "method": "Regularizer",
    "strength": "keep_prob and schedule",
    "dropblock": "DropBlock options",
    "sites": "Where to inject",
    "seed": "Random seed",
    "training": "Training set, epochs and seeds (Train page)",
}

# ResNet-50 feature maps at 224 x 224 input are 56, 28, 14 and 7 pixels wide; 32 covers
# every block that fits in layer2 and beyond, where DropBlock is applied.
BLOCK_MAX = 32

IMAGE = Choice(
    key="image",
    label="Sample image",
    group="image",
    options=tuple(SAMPLES),
    default="cat",
    help="Bundled pictures (no download). Upload your own below; uploads are not part of "
    "shared links.",
)
METHOD = Choice(
    key="method",
    label="Regularizer",
    group="method",
    options=METHODS,
    default="drop_block",
    labels=METHOD_LABELS,
    help="What is zeroed: Dropout single activations, SpatialDropout whole channels, "
    "DropBlock square regions, DropPath whole residual branches, DropConnect weights. "
    "'None' shows the plain network.",
)
KEEP = Slider(
    key="keep",
    label="keep_prob",
    group="strength",
    lo=0.0,
    hi=1.0,
    default=0.9,
    step=0.01,
    fmt="%.2f",
    help="Probability that a unit is kept; the drop probability is p = 1 - keep_prob. "
    "The DropBlock paper's best setting is 0.9.",
)


SCHEDULE = Flag(
    key="sched",
    label="Take keep_prob from a linear schedule",
    group="strength",
    default=False,
    help="The paper lowers keep_prob linearly from 1.0 to the target during training, "
    "which works better than a fixed value. Pick a training step to see its keep_prob.",
)
START_KEEP = Slider(
    key="start",
    label="Start keep_prob",
    group="strength",
    lo=0.0,
    hi=1.0,
    default=1.0,
    step=0.01,
    fmt="%.2f",
    help="keep_prob at step 0 (1.0: no dropping at first).",
)
END_KEEP = Slider(
    key="end",
    label="End keep_prob",
    group="strength",
    lo=0.0,
    hi=1.0,
    default=0.9,
    step=0.01,
    fmt="%.2f",
    help="keep_prob reached at the last step and kept after it.",
)
TOTAL_STEPS = Number(
    key="total",
    label="Total steps",
    group="strength",
    lo=1,
    hi=10_000_000,
    default=10_000,
    step=1_000,
    help="Length of the schedule in training steps.",
)
STEP = Slider(
    key="step",
    label="Training step",
    group="strength",
    lo=0,
    hi=10_000,
    default=5_000,
    step=1,
    help="Where in training to look; keep_prob is read off the schedule here. "
    "The upper end follows 'Total steps'.",
)
BLOCK = Slider(
    key="block",
    label="block_size",
    group="dropblock",
    lo=1,
    hi=BLOCK_MAX,
    default=7,
    step=1,
    help="Edge of the dropped squares. 1 makes DropBlock plain dropout; a block as large "
    "as the feature map makes it SpatialDropout. Blocks larger than a map are clipped.",
)
GAMMA = Choice(
    key="gamma",
    label="Seed rate (gamma)",
    group="dropblock",
    options=GAMMA_MODES,
    default="exact",
    style="segmented",
    help="'paper': the paper's formula, which ignores overlapping blocks and drops less "
    "than asked. 'exact': solved so the expected dropped fraction equals 1 - keep_prob.",
)
SEEDING = Choice(
    key="seeding",
    label="Seed positions",
    group="dropblock",
    options=SEEDINGS,
    default="uniform",
    style="segmented",
    help="'valid' (paper): blocks start only where they fit, so centre pixels are dropped "
    "far more often than corners. 'uniform': blocks may hang over the border, every pixel "
    "is equally likely to be dropped.",
)
PER_CHANNEL = Flag(
    key="per_channel",
    label="One mask per channel",
    group="dropblock",
    default=True,
    help="The paper's Algorithm 1 draws a separate mask for every channel (it worked "
    "better); off: one mask shared by all channels.",
)
INVERTED = Flag(
    key="inverted",
    label="Inverted dropout (rescale at train time)",
    group="strength",
    default=True,
    help="On: kept values are divided by keep_prob during training (what frameworks do). "
    "Off: the original 'vanilla' dropout, which instead multiplies by keep_prob at test "
    "time.",
)
STAGES_CONTROL = Multi(
    key="stages",
    label="Stages",
    group="sites",
    options=STAGES,
    default=("layer3", "layer4"),
    help="ResNet stages to inject into (torchvision names; the paper's groups 3 and 4 are "
    "layer3 and layer4).",
)
WHERE_CONTROL = Choice(
    key="where",
    label="Path",
    group="sites",
    options=WHERE,
    default="both",
    style="segmented",
    help="Residual branch, skip (shortcut) connection or both; the paper applies DropBlock "
    "to both. DropPath only ever drops branches.",
)
DEPTH = Flag(
    key="depth",
    label="Scale p with depth",
    group="sites",
    default=False,
    help="Stochastic-depth rule: block l of L gets p * l / L, so deeper blocks are "
    "dropped more often.",
)
CAM_LAYER = Choice(
    key="cam",
    label="Grad-CAM layer",
    group="sites",
    options=STAGES,
    default="layer4",
    help="Stage whose output Grad-CAM explains (layer4 is the usual choice).",
)
SEED = Number(
    key="seed",
    label="Seed",
    group="seed",
    lo=0,
    hi=2**31 - 1,
    default=0,
    help="Same seed, same settings, same image: the same masks, on any machine. Change it "
    "to see another random draw.",
)
MAP_H = Slider(
    key="h",
    label="Feature-map height H",
    group="dropblock",
    lo=1,
    hi=64,
    default=14,
    step=1,
    help="ResNet-50 at 224 x 224 input: layer3 maps are 14 x 14, layer4 maps 7 x 7.",
)
MAP_W = Slider(
    key="w",
    label="Feature-map width W",
    group="dropblock",
    lo=1,
    hi=64,
    default=14,
    step=1,
    help="Non-square maps are fine; blocks wider than the map are clipped.",
)
PRUNE = Slider(
    key="prune",
    label="Pruned fraction",
    group="strength",
    lo=0.0,
    hi=0.95,
    default=0.6,
    step=0.05,
    fmt="%.2f",
    help="Magnitude pruning removes the smallest weights for good (60% channel pruning "
    "has been recovered by fine-tuning).",
)
L2_DECAY = Slider(
    key="l2",
    label="L2 weight decay (lambda)",
    group="strength",
    lo=0.0,
    hi=0.05,
    default=0.01,
    step=0.001,
    fmt="%.3f",
    help="Each SGD step (lr 0.1) shrinks every weight by lr * lambda of itself; shown "
    "after 100 steps without any data gradient.",
)
FIX = Multi(
    key="fix",
    label="Fix these controls for the class",
    group="teacher",
    options=tuple(GROUPS),
    default=(),
    help="The chosen groups are shown read-only under 'Fixed for this lesson' and the "
    "presets are hidden. The link keeps every value, so share it after choosing.",
)
SITE = Choice(
    key="site",
    label="Site",
    group="sites",
    options=(),
    default="layer3.0.branch",
    help="Where to look: stage.block.path, e.g. layer3.0.branch is the residual branch of "
    "the first block of layer3 (14 x 14 maps at 224 x 224 input). DropConnect sites are "
    "convolutions.",
)
COMPARISON = Choice(
    key="grid",
    label="Compare",
    group="method",
    options=("block_size", "methods", "keep_prob", "seeding"),
    labels={
        "block_size": "block sizes",
        "methods": "all methods",
        "keep_prob": "keep_prob",
        "seeding": "gamma and seeding",
    },
    default="block_size",
    help="'block sizes' is the paper's figure (none, block 1, 3, 7): block_size 1 is "
    "dropout, larger blocks remove whole parts of the object. 'all methods' uses one "
    "keep_prob for every regularizer; 'keep_prob' steps DropBlock from 1.0 to 0.5; "
    "'gamma and seeding' shows the four DropBlock variants.",
)
MASK_STAGE = Choice(
    key="mask_stage",
    label="Show masks of",
    group="sites",
    options=STAGES,
    default="layer3",
    style="segmented",
    help="Each cell shows the mask of the first injection site in this stage (if the "
    "setting injects there).",
)
DRAWS = Slider(
    key="draws",
    label="Monte Carlo draws N",
    group="strength",
    lo=2,
    hi=64,
    default=16,
    step=1,
    help="Independent random masks, each a full pass (batched). More draws: smoother "
    "estimates, longer wait (a progress bar shows it; any change stops the run).",
)
