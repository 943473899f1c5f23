# The embedded demo's stock mmseg model: DeepLabV3+ exactly as mmseg states it
# (./mmseg/deeplabv3plus_r50-d8.py: EncoderDecoder, ResNetV1c-D8, DepthwiseSeparableASPPHead,
# an auxiliary FCNHead on stage 3), shrunk to train from scratch on a CPU in a few minutes:
# ResNet-18 at 16 base channels (stage widths 16, 32, 64, 128), no ImageNet weights.
_base_ = './mmseg/deeplabv3plus_r50-d8.py'
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(84, 168)),  # the training crop
    backbone=dict(depth=18, stem_channels=16, base_channels=16),
    decode_head=dict(in_channels=128, c1_in_channels=16, channels=32, c1_channels=8,
                     dilations=(1, 6, 12, 18)),  # rates for a 21 x 42 stride-8 map
    auxiliary_head=dict(in_channels=64, channels=16))
