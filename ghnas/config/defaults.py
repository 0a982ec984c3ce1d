"""The one commented tree of every configuration key.

A key is declared here exactly once, with its meaning, unit and allowed values above it. A YAML
file or a command-line override may only set keys declared here (or added by a project's
``add_<name>_config``); anything else is a one-line error naming the key.
"""

from fvcore.common.config import CfgNode as _FvcoreCfgNode

_C = _FvcoreCfgNode()

# Phases run by tools/train_net.py, in this order. Accepted: "ghn" (train the graph
# hypernetwork), "search" (random search ranked with GHN-generated weights), "final" (train the
# best searched architecture for real with FINAL.TRAINER), "export" (bundle the trained, else the
# best searched, architecture for deployment; EXPORT section).
_C.PHASES = ["ghn", "search"]
# The installed plug-ins (ghnas/plugins.py) whose keys this config holds: a record, set by
# get_cfg(); merging a file that names one not installed here is refused.
_C.PLUGINS = []
# Every artefact (config dump, checkpoints, results, tables) goes under this directory.
_C.OUTPUT_DIR = "./output/classification"
# Master seed: architecture sampling, data order, GHN initialisation, evaluation subset.
_C.SEED = 0

# ---------------------------------------------------------------------------------------------
# Model execution
# ---------------------------------------------------------------------------------------------
_C.MODEL = _FvcoreCfgNode()
# Where the GHN and the candidate networks run: "cpu" or "cuda".
_C.MODEL.DEVICE = "cpu"
# Autocast dtype for candidate-network forward passes: "none", "float16" or "bfloat16".
# The GHN itself always runs in float32.
_C.MODEL.AMP_DTYPE = "none"
# Run many candidate networks in one pass where the space provides a fused network
# (SearchSpace.build_fused_network): GHN training with META_BATCH > 1 and scoring. The results
# equal those of one network at a time up to float rounding. Off: always one at a time.
_C.MODEL.FUSED_NETWORKS = True
# F: the width of the first stage of a candidate network (channels per node). The paper
# searches at 16 and trains the final CIFAR-10 network at 32.
_C.MODEL.INIT_CHANNELS = 16

# ---------------------------------------------------------------------------------------------
# Input
# ---------------------------------------------------------------------------------------------
_C.INPUT = _FvcoreCfgNode()
# Side length in pixels that images are resized to (datasets whose images have another size are
# resized when loaded). CIFAR-10 is 32.
_C.INPUT.SIZE = 32
# Training augmentation: random crop with this zero padding (pixels; 0 disables) ...
_C.INPUT.CROP_PADDING = 4
# ... and random horizontal flips.
_C.INPUT.HORIZONTAL_FLIP = True

# ---------------------------------------------------------------------------------------------
# Datasets (DATASET_REGISTRY in ghnas/data/build.py)
# ---------------------------------------------------------------------------------------------
_C.DATASETS = _FvcoreCfgNode()
# Registered dataset: "cifar10" (torchvision), "image_folder" (torchvision ImageFolder),
# "npz" (arrays file with x_train/y_train/x_test/y_test), "digits" (scikit-learn's bundled
# handwritten digits: the embedded default, no download).
_C.DATASETS.NAME = "cifar10"
# Root directory of "cifar10" (where torchvision keeps cifar-10-batches-py) or "image_folder"
# (one sub-directory per class).
_C.DATASETS.ROOT = "./datasets/cifar10"
# Path of the arrays file read by "npz".
_C.DATASETS.PATH = ""
# Let torchvision download CIFAR-10 into ROOT when it is missing (never done by tests).
_C.DATASETS.DOWNLOAD = False
# Images carved (seeded) out of the training set for validation; search scores use them.
# Must be smaller than the training set. The paper keeps 5,000 of CIFAR-10's 50,000.
_C.DATASETS.VAL_SIZE = 5000
# Images carved (seeded, disjoint from validation) out of the training set as a held-out test
# split, for datasets without one of their own ("digits", "image_folder"); 0 = none. Only the
# correlation benchmark's ground truth and the final trainers' reports read the test split.
_C.DATASETS.TEST_SIZE = 0
# Seed of the validation/test carving; -1 = SEED. Fix it to vary SEED (GHN, candidates) over one
# split. A GHN checkpoint records its split, and scoring with it on another split is refused.
_C.DATASETS.SPLIT_SEED = -1
# Keep in-memory datasets (npz, digits, cifar10) on MODEL.DEVICE and augment there.
_C.DATASETS.ON_DEVICE = True

# ---------------------------------------------------------------------------------------------
# Reading a dataset that lives in files (image_folder, e.g. ImageNet)
# ---------------------------------------------------------------------------------------------
_C.DATALOADER = _FvcoreCfgNode()
# DataLoader worker processes that decode and augment the training images of an image folder
# (pinned memory on CUDA; each torchrun rank has its own). 0: decode in the training process.
# In-memory datasets (digits, npz, cifar10) are indexed directly and ignore it.
_C.DATALOADER.NUM_WORKERS = 4

# ---------------------------------------------------------------------------------------------
# Search space (SEARCH_SPACE_REGISTRY in ghnas/search_spaces/build.py)
# ---------------------------------------------------------------------------------------------
_C.SEARCH_SPACE = _FvcoreCfgNode()
# Registered search space: "classification" (appendix 7.1 of the paper), "imagenet_mobile" (the
# same blocks transferred to ImageNet, section 5.1.2: stride-2 stem, reductions at blocks 1, 2,
# 6 and 10 of 14) or "anytime" (early exits, section 5.2; its keys are in the ANYTIME section).
_C.SEARCH_SPACE.NAME = "classification"
# N: operation nodes in a sampled block (the two input nodes are extra). The paper ranks
# blocks of 17 nodes.
_C.SEARCH_SPACE.NUM_NODES = 17
# B: blocks stacked into a network; the resolution halves (and the width doubles) after blocks
# B/3 and 2B/3. The paper stacks 18 (imagenet_mobile: 14, see its file for other B).
_C.SEARCH_SPACE.NUM_BLOCKS = 18

# ---------------------------------------------------------------------------------------------
# Anytime search space (section 5.2, appendix 7.1): one DAG of three blocks with early exits
# ---------------------------------------------------------------------------------------------
_C.ANYTIME = _FvcoreCfgNode()
# Nodes in blocks 1, 2 and 3 (the paper's 24, 16, 8). Block 1 nodes run at scale 1, 1/2 or 1/4
# of the input, block 2 at 1/2 or 1/4, block 3 at 1/4; a node at scale 1/2^s has C·2^s channels
# (C = MODEL.INIT_CHANNELS). During GHN training each block's node count is drawn uniformly from
# [max(1, exits in the block), its size] at every step.
_C.ANYTIME.BLOCK_NODES = [24, 16, 8]
# Early exits per architecture; the last node always carries one.
_C.ANYTIME.NUM_EXITS = 5
# B: the FLOP budget (fvcore FLOPs, one multiply-add = one FLOP) of the anytime AUC criterion
# (AUC = ∫_0^B accuracy(b) db / B, the prediction at budget b being that of the last exit whose
# cumulative FLOPs <= b). The sampler rejects architectures whose last exit exceeds it, and the
# anytime final trainer picks the widest C that fits it. 150M suits the paper's setting (C=16,
# 32×32, blocks of 24/16/8: sampled networks need 80-175M).
_C.ANYTIME.FLOP_BUDGET = 150e6

# ---------------------------------------------------------------------------------------------
# Graph hypernetwork (GHN_REGISTRY in ghnas/ghn/build.py)
# ---------------------------------------------------------------------------------------------
_C.GHN = _FvcoreCfgNode()
# Registered GHN variant: "ghn" (one hypernet output branch per parameter family) or
# "ghn_shared_branch" (ablation: a single output branch serves every family).
_C.GHN.NAME = "ghn"
# Registered propagation scheme: "forward_backward" (Eq. 15) or "synchronous".
_C.GHN.PROPAGATION = "forward_backward"
# T: full propagation passes. Forward-backward: T forward+backward sweeps. Synchronous:
# T rounds of 2L-1 simultaneous updates (L = topological levels), the same sequential depth.
_C.GHN.NUM_PASSES = 5
# D: node embedding and GRU hidden size (the paper's 32).
_C.GHN.HIDDEN_SIZE = 32
# Hidden width of the 2-layer message MLP M (the paper's 32).
_C.GHN.MESSAGE_HIDDEN_SIZE = 32
# Hidden width of the 2-layer hypernet MLP H (the paper's 64).
_C.GHN.HYPERNET_HIDDEN_SIZE = 64
# Use a separate message MLP for messages from children (backward sweep / synchronous
# children). Off = the same M in both directions, as in the paper.
_C.GHN.SEPARATE_BACKWARD_MESSAGE = False
# Stacked GHN (section 4.3): propagate module by module (stem, blocks, classifier) and pass
# graph embeddings between them. Off = one flat propagation over the whole graph.
_C.GHN.STACKED = True
# Stacked GHN only: one embedding/M/U shared by every module (on, the paper's choice) or a
# separate set per module index with one shared H (off; Table 5 ablation).
_C.GHN.SHARE_PARAMETERS = True
# Stacked GHN only: pass the mean embedding of module i-1 to the input nodes of module i as a
# message (on) or pass zeros (off; Table 5 ablation).
_C.GHN.PASS_EMBEDDINGS = True
# N used for sampling blocks while training the GHN (the paper trains at 7, ranks at 17).
_C.GHN.TRAIN_NUM_NODES = 7
# Architectures sampled per GHN training step; they share one image batch.
_C.GHN.META_BATCH = 1
# Registered trainer that runs the "ghn" phase (TRAINER_REGISTRY in ghnas/trainers/build.py).
_C.GHN.TRAINER = "ghn"
# Stabilisers of GHN-2 (Knyazev et al., 2021), off by default (the paper's GHN):
# scale every generated weight of fan-in n by sqrt(beta / n), beta = 2 for convolutions (each
# feeds a ReLU) and 1 for linear layers, so generated networks start at He-like scales ...
_C.GHN.FAN_IN_SCALING = False
# ... LayerNorm the final node states before the hypernet reads them ...
_C.GHN.LAYER_NORM = False
# ... and score with an exponential moving average of the GHN's parameters, updated after every
# step with this decay (torch.optim.swa_utils; 0 = off, e.g. 0.99).
_C.GHN.EMA_DECAY = 0.0

# ---------------------------------------------------------------------------------------------
# GHN optimisation
# ---------------------------------------------------------------------------------------------
_C.SOLVER = _FvcoreCfgNode()
# Training iterations of the GHN (one image batch each).
_C.SOLVER.MAX_ITER = 20000
# Adam learning rate; halved at each fraction of MAX_ITER in LR_DECAY_POINTS.
_C.SOLVER.BASE_LR = 1e-3
_C.SOLVER.LR_DECAY_POINTS = [0.5, 0.75]
_C.SOLVER.LR_DECAY_FACTOR = 0.5
# Images per training batch.
_C.SOLVER.IMS_PER_BATCH = 64
# Gradient clipping by global norm (0 disables).
_C.SOLVER.CLIP_GRAD_NORM = 5.0
# Save a resumable checkpoint every this many iterations (and always at the end).
_C.SOLVER.CHECKPOINT_PERIOD = 1000
# Log loss, lr, archs/s and ETA every this many iterations.
_C.SOLVER.LOG_PERIOD = 20

# ---------------------------------------------------------------------------------------------
# Final training of the best searched architecture (the "final" phase, TRAINER_REGISTRY)
# ---------------------------------------------------------------------------------------------
_C.FINAL = _FvcoreCfgNode()
# Registered trainer of the "final" phase (appendix 7.3): "anytime_final", "classification"
# (CIFAR-10 recipe: cosine LR) or "imagenet" (ImageNet-mobile recipe: LR x LR_GAMMA per epoch).
# Empty: none (a config listing the "final" phase must name one).
_C.FINAL.TRAINER = ""
# The search results the final phase reads its architectures from; empty = the search phase's
# OUTPUT_DIR/search/results.jsonl. Another run's file transfers its blocks (the paper trains
# the block searched on CIFAR-10 on ImageNet, configs/imagenet_mobile_final.yaml).
_C.FINAL.SEARCH_RESULTS = ""
# Epochs of SGD, learning rate, momentum, weight decay, images per batch (per process). The
# defaults are the paper's anytime recipe (300 epochs, LR 0.1 divided by LR_DECAY_FACTOR^-1 at
# each fraction of the epochs in LR_DECAY_POINTS); configs/classification_cifar10_final.yaml
# sets the CIFAR-10 one (600 epochs, one cosine period from 0.025, weight decay 3e-4) and
# configs/imagenet_mobile_final.yaml the ImageNet one (250 epochs, 0.1 x 0.97 per epoch).
_C.FINAL.EPOCHS = 300
_C.FINAL.BASE_LR = 0.1
_C.FINAL.MOMENTUM = 0.9
_C.FINAL.WEIGHT_DECAY = 1e-4
_C.FINAL.LR_DECAY_POINTS = [0.5, 0.75]
_C.FINAL.LR_DECAY_FACTOR = 0.1
_C.FINAL.IMS_PER_BATCH = 64
# anytime_final: the width is the largest C >= MIN_CHANNELS whose FLOPs fit the space's budget.
_C.FINAL.MIN_CHANNELS = 1
# classification/imagenet: F the network is trained at; 0 = MODEL.INIT_CHANNELS (the search
# width; the paper searches at 16 and trains CIFAR-10 at 32). With EXPORT.FLOP_BUDGET > 0 the
# width is instead the largest F >= EXPORT.MIN_CHANNELS whose FLOPs fit that budget.
_C.FINAL.INIT_CHANNELS = 0
# classification/imagenet: "imagenet"'s factor per epoch (the paper: 0.97).
_C.FINAL.LR_GAMMA = 0.97
# All final trainers: epochs of linear LR warm-up, in which the rate rises as
# peak x (e + 1) / (W + 1). Under torchrun the peak is BASE_LR x the number of processes (the
# linear scaling rule of the paper's 32-GPU runs). -1 = the paper's: 5 epochs with several
# processes, none with one. A run too short for it warms up for epochs - 1.
_C.FINAL.WARMUP_EPOCHS = -1
# classification/imagenet: drop-path probability, rising linearly from 0 at the first epoch to
# DROP_PATH_PROB x (E - 1) / E at the last (scheduled drop-path, the paper's final 0.4).
_C.FINAL.DROP_PATH_PROB = 0.4
# classification/imagenet: weight of the auxiliary head's loss (head at 2/3 of the network;
# the paper: 0.5). 0 = no auxiliary head.
_C.FINAL.AUX_WEIGHT = 0.5
# classification/imagenet: side in pixels of the Cutout square zeroed in every training image
# (the paper's CIFAR-10 runs: 16). 0 = none.
_C.FINAL.CUTOUT = 0
# classification/imagenet, Top-Best (section 5.1.1): train each of the search's TOP_BEST_K best
# architectures for TOP_BEST_EPOCHS with the same recipe, keep the one with the best validation
# accuracy (never test) and train it for EPOCHS. 1 = train the search's best directly.
_C.FINAL.TOP_BEST_K = 1
_C.FINAL.TOP_BEST_EPOCHS = 20
# classification/imagenet: training batches that recompute the BN statistics with fixed
# weights (precise BN) before evaluation; 0 = keep the running averages of training.
_C.FINAL.PRECISE_BN_BATCHES = 200

# ---------------------------------------------------------------------------------------------
# Random search (ghnas/search) and selection (SELECTION_REGISTRY in ghnas/selection/build.py)
# ---------------------------------------------------------------------------------------------
_C.SEARCH = _FvcoreCfgNode()
# K: distinct architectures (by canonical hash) drawn and scored.
_C.SEARCH.NUM_ARCHS = 1000
# k: how many of the best are listed in the final table (and kept for later phases).
_C.SEARCH.TOP_K = 10
# Registered selection criterion: "accuracy" (validation accuracy, a fraction in [0, 1]) or
# "expected_accuracy" (mean softmax probability of the true class: smoother, in [0, 1]).
_C.SEARCH.CRITERION = "accuracy"
# Fixed, seeded subset of the validation set every architecture is scored on, and the batch
# size it is cut into. Batch statistics are used in BatchNorm, so both change scores; both are
# recorded in the results header.
_C.SEARCH.EVAL_IMAGES = 500
_C.SEARCH.EVAL_BATCH_SIZE = 250
# Trained GHN to rank with; empty = the "ghn" phase's OUTPUT_DIR/ghn/model_final.pth.
_C.SEARCH.GHN_CHECKPOINT = ""
# Architectures whose weights are generated together in one packed graph.
_C.SEARCH.ARCH_BATCH = 8
# Also score every architecture with an untrained GHN (same initialisation seed) and report
# both medians, to show what GHN training bought.
_C.SEARCH.UNTRAINED_BASELINE = True
# Constraints on the sampled candidates, applied before any is scored.
_C.SEARCH.CONSTRAINTS = _FvcoreCfgNode()
# [lo, hi]: keep only architectures whose FLOPs (the space's analytic count at
# MODEL.INIT_CHANNELS, fvcore's convention) lie in [lo, hi]; others are skipped and redrawn.
# Empty = no constraint.
_C.SEARCH.CONSTRAINTS.FLOPS = []

# ---------------------------------------------------------------------------------------------
# Correlation benchmark (tools/eval_correlation.py; sections 5.3-5.4, Table 4, Figures 4-6)
# ---------------------------------------------------------------------------------------------
_C.CORRELATION = _FvcoreCfgNode()
# Seeded random architectures (SEARCH_SPACE.NUM_NODES nodes, distinct hashes) whose estimated
# and real accuracies are compared; none of them is ever drawn in GHN training. The paper: 100.
_C.CORRELATION.NUM_ARCHS = 100
# Ground truth: each architecture trained from scratch with SGD (momentum, one cosine period
# from BASE_LR to 0, weight decay, IMS_PER_BATCH images per step, crop/flip augmentation) for
# EPOCHS epochs, then its accuracy on the held-out test split (the paper: 50 epochs; the rest
# is its CIFAR-10 final recipe without drop-path, auxiliary head and cutout).
_C.CORRELATION.EPOCHS = 50
_C.CORRELATION.BASE_LR = 0.025
_C.CORRELATION.MOMENTUM = 0.9
_C.CORRELATION.WEIGHT_DECAY = 3e-4
_C.CORRELATION.IMS_PER_BATCH = 64
# SGD-k baselines: the ground-truth run after k updates, scored on the validation subset like
# the GHN. Each k must fall inside the run (EPOCHS x ceil(train images / IMS_PER_BATCH)).
_C.CORRELATION.SGD_STEPS = [10, 100, 200, 1000]
# Ground-truth cache, shared by every run and ablation member that trains the same
# architectures the same way; empty = OUTPUT_DIR/correlation/ground_truth.
_C.CORRELATION.CACHE_DIR = ""
# A trained GHN to evaluate; empty = train one here (OUTPUT_DIR/ghn) with the held-out
# architectures excluded from its sampler.
_C.CORRELATION.GHN_CHECKPOINT = ""
# Also train and evaluate the one-shot baseline (ENAS-style shared weights, SOLVER.MAX_ITER
# steps at SEARCH_SPACE.NUM_NODES nodes; classification space only).
_C.CORRELATION.ONE_SHOT = True
# Random-n vs GHN top-n (Table 1, Figure 4): the first TOP_COMPARE architectures of the set
# against the GHN's best TOP_COMPARE of TOP_CANDIDATES fresh ones, all trained with the
# ground-truth recipe. 0 disables the comparison.
_C.CORRELATION.TOP_COMPARE = 10
_C.CORRELATION.TOP_CANDIDATES = 100
# Percentile bootstrap intervals (95%) from this many seeded resamples.
_C.CORRELATION.BOOTSTRAP_RESAMPLES = 1000

# ---------------------------------------------------------------------------------------------
# Training-free baselines (ghnas/evaluation/zero_cost.py), reported beside the GHN by the
# correlation benchmark and the NAS-Bench-201 ranking benchmark
# ---------------------------------------------------------------------------------------------
_C.ZERO_COST = _FvcoreCfgNode()
# Registered zero-cost estimators, each on a freshly initialised network per architecture
# (seeded by SEED and the architecture). Empty = parameter count and FLOPs only.
_C.ZERO_COST.ESTIMATORS = ["naswot", "synflow", "snip", "grad_norm", "jacob_cov"]
# Images of the one seeded mini-batch they read (synflow reads one all-ones image of its shape).
_C.ZERO_COST.BATCH_SIZE = 64

# ---------------------------------------------------------------------------------------------
# Ablation sweep of the correlation benchmark (Figure 5, Table 5)
# ---------------------------------------------------------------------------------------------
_C.ABLATION = _FvcoreCfgNode()
# Config key to vary, e.g. "GHN.TRAIN_NUM_NODES"; several keys varied together are joined by
# commas ("GHN.PROPAGATION,GHN.NUM_PASSES"). Empty = no sweep.
_C.ABLATION.KEY = ""
# One value per run (a list of values per run when KEY names several keys). Every run trains
# its own GHN under OUTPUT_DIR/ablation/<KEY=value>/ and shares the ground-truth cache.
_C.ABLATION.VALUES = []

# ---------------------------------------------------------------------------------------------
# Export under a FLOP budget (ghnas/export; also the ImageNet-mobile setting of section 5.1.2)
# ---------------------------------------------------------------------------------------------
_C.EXPORT = _FvcoreCfgNode()
# FLOP budget (fvcore FLOPs, one multiply-add = one FLOP; the paper's mobile setting: 600e6) an
# exported network must fit: its width F is the largest whose FLOPs fit, confirmed by an fvcore
# trace. 0 = no budget (export at MODEL.INIT_CHANNELS).
_C.EXPORT.FLOP_BUDGET = 0.0
# The narrowest F budget fitting may choose; a block over the budget even there is refused.
_C.EXPORT.MIN_CHANNELS = 8
# Where exported weights come from: "final" (the final phase's training of that architecture),
# "ghn" (generated, BN statistics then recomputed on BN_IMAGES training images) or "random".
# Empty: "final" when that checkpoint exists, otherwise the export stops and asks.
_C.EXPORT.WEIGHTS = ""
_C.EXPORT.BN_IMAGES = 1024
# Also write model.onnx (self-contained, any batch size) where the [onnx] extra is installed
# (pip install -e ".[onnx]": onnx, onnxscript, onnxruntime). ONNX export takes seconds per model.
_C.EXPORT.ONNX = True
