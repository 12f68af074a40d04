"""dropcore: exact, fast structured-dropout regularizers for PyTorch.

Every regularizer is a pure function plus a thin ``nn.Module`` that stores hyperparameters:

==================  ==========================  =========================================
function            module                      drops
==================  ==========================  =========================================
``dropout``         ``Dropout``                 single activations (inverted or vanilla)
``spatial_dropout`` ``SpatialDropout``          whole channels
``drop_block``      ``DropBlock2d``             block_size x block_size squares
``drop_block3d``    ``DropBlock3d``             block_size cubes of (N, C, D, H, W) maps
``drop_path``       ``DropPath``                a whole residual branch per sample
``drop_connect``    ``DropConnectConv2d/Linear`` individual weights
==================  ==========================  =========================================
"""

from .dropblock import DropBlock2d, drop_block, drop_block_mask
from .dropblock3d import DropBlock3d, drop_block3d
from .dropconnect import DropConnectConv2d, DropConnectLinear, drop_connect
from .dropout import Dropout, dropout
from .droppath import DropPath, drop_path
from .gamma import block_gamma, drop_probability_map, expected_drop_fraction
from .probe import METHODS, STAGES, ProbeResult, ProbeSettings, SiteRecord
from .recipe import Recipe, Regularized, regularize
from .schedule import LinearSchedule, depth_rates, drop_probability, keep_probability
from .spatial import SpatialDropout, spatial_dropout

__all__ = [
    "METHODS",
    "STAGES",
    "DropBlock2d",
    "DropBlock3d",
    "DropConnectConv2d",
    "DropConnectLinear",
    "DropPath",
    "Dropout",
    "LinearSchedule",
    "ProbeResult",
    "ProbeSettings",
    "Recipe",
    "Regularized",
    "SiteRecord",
    "SpatialDropout",
    "block_gamma",
    "depth_rates",
    "drop_block",
    "drop_block3d",
    "drop_block_mask",
    "drop_connect",
    "drop_path",
    "drop_probability",
    "drop_probability_map",
    "dropout",
    "expected_drop_fraction",
    "keep_probability",
    # The subpackage: re-exporting the probe *function* as ``dropcore.probe`` would shadow it
    # and break ``import dropcore.probe.engine``. Use ``from dropcore.probe import probe``.
    "probe",
    "regularize",
    "spatial_dropout",
]

__version__ = "0.1.0"
