# Copyright (c) Meta Platforms, Inc. and affiliates.
#
# This source code is licensed under the Apache License, Version 2.0
# found in the LICENSE file in the root directory of this source tree.

# Vendored from facebookresearch/dinov2 @ b8931f7b: the original imports of `train` and
# `ssl_meta_arch` are dropped (the trimmed train.py is imported directly).
