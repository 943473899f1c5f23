# LostAndFound-testNoKnown (1,043 frames): the valid LostAndFound test frames without people
# or bicycles, selected as the SMIYC benchmark tooling does (lost_and_found.py; it needs the
# whole 1,203-frame test split, an error otherwise). Labels and evaluation as lost_and_found.py.
# Layout: data/lost_and_found/{leftImg8bit,gtCoarse}/test/<NN>_<scene>/.
_base_ = './lost_and_found.py'
val_dataloader = dict(dataset=dict(subset='noKnown'))
test_dataloader = val_dataloader
