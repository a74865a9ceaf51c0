--- mg.data: the dataset protocol (`#ds`, `ds:batch(idx)`; see
-- TensorDataset), TensorDataset, the image sets (MNIST digits,
-- Fashion-MNIST), the DataLoader (sampler with shards, batch, transform)
-- and batch transforms (mg.data.transforms); the text sets (IMDB,
-- SpamAssassin, WordNet glosses: text.lua) and their token datasets
-- (tokenized.lua).
-- @module moongrad.data
-- @usage local ds = mg.data.fashion_mnist{split = "train"}
-- local loader = mg.data.DataLoader(ds, {batch_size = 128, shuffle = true})
-- for images, labels in loader:iter() do ... end
local datasets = require "moongrad.data.datasets"
local loader = require "moongrad.data.loader"
local text = require "moongrad.data.text"
local tokenized = require "moongrad.data.tokenized"

local M = {
  mnist = datasets.mnist,
  fashion_mnist = datasets.fashion_mnist,
  TensorDataset = datasets.TensorDataset,
  Dataset = datasets.Dataset,
  data_dir = datasets.data_dir,
  DataLoader = loader.DataLoader,
  imdb = text.imdb,
  spam = text.spam,
  wordnet = text.wordnet,
  TextDataset = text.TextDataset,
  text_file = text.text_file,
  TokenizedDataset = tokenized.TokenizedDataset,
  TokenWindows = tokenized.TokenWindows,
}

return setmetatable(M, {
  __lazy = { "transforms" }, -- what __index loads on first use (for completion and the reference)
  __index = function(t, key)
    if key == "transforms" then
      local m = require "moongrad.data.transforms"
      rawset(t, key, m)
      return m
    end
  end,
})
