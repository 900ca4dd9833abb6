"""torchvision's logits for image files: its ImageNet evaluation transform (resize 256,
centre crop 224, normalise) and a model loaded from a state dict. Prints JSON lists.

usage: predict_reference.py MODEL STATE_DICT CLASSES IMAGE [IMAGE ...]
"""
import json
import sys

import torch
import torchvision
from PIL import Image
from torchvision import transforms

name, weights, classes, images = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
model = getattr(torchvision.models, name)(num_classes=classes)
model.load_state_dict(torch.load(weights))
model.eval()
transform = transforms.Compose([
    transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor(),
    transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
with torch.no_grad():
    batch = torch.stack([transform(Image.open(f).convert("RGB")) for f in images])
    print(json.dumps(model(batch).tolist()))
