from ghnas.trainers import anytime_final as _anytime_final  # noqa: F401  (registration)
from ghnas.trainers import classification_final as _classification_final  # noqa: F401
from ghnas.trainers import ghn_trainer as _ghn_trainer  # noqa: F401  (registration)
from ghnas.trainers.build import TRAINER_REGISTRY, build_trainer
from ghnas.trainers.ghn_trainer import GHNTrainer

__all__ = ["TRAINER_REGISTRY", "GHNTrainer", "build_trainer"]
