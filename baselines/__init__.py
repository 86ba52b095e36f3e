"""RecBole sequential baselines (GRU4Rec, Caser, SASRec, DROS, -BERT): see issue 3."""
