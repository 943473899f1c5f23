"""The label ids the whole project shares, each named once and used as every default."""

#: label of pasted outlier pixels (AnomalyMix, the COCO outlier masks): the inlier head's
#: losses ignore it, the UEM learns it as anomalous (the official code's 254)
OUTLIER_INDEX = 254
#: void: pixels that no loss and no metric reads (mmseg's ``ignore_index``; OoD labels
#: are {0 inlier, 1 anomaly, 255 void})
IGNORE_INDEX = 255
