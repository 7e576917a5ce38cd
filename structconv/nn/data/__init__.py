"""Data sets without downloads and without torchvision, each a ``DataBundle`` (train and validation
datasets, class names, input shape): scikit-learn's digits (``loaders``), CIFAR-10 (``cifar``),
Fashion-MNIST and any MNIST-format folder (``fashion``, ``idx``), an image folder (``folder``);
``DataSettings`` picks one for a training run; ``split_validation`` carves the validation split
choices are made on from the training data."""
from .cifar import load_cifar10
from .datasets import ArrayDataset, DataBundle
from .fashion import FASHION_CLASSES, FASHION_MNIST_DIR, load_fashion_mnist, load_idx_folder
from .folder import load_image_folder
from .idx import read_idx, write_idx
from .loaders import DATASETS, as_bundle, load_dataset, load_digits_data
from .settings import DataSettings
from .validation import is_split, selection_bundle, split_validation

__all__ = ["ArrayDataset", "DataBundle", "DataSettings", "DATASETS", "as_bundle", "load_dataset",
           "load_digits_data", "load_cifar10", "load_fashion_mnist", "load_idx_folder", "FASHION_CLASSES",
           "FASHION_MNIST_DIR", "load_image_folder", "read_idx", "write_idx", "split_validation",
           "selection_bundle", "is_split"]
