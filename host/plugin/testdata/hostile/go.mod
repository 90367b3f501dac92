module github.com/ppcmesh/mesh/host/plugin/testdata/hostile

go 1.26

require github.com/ppcmesh/mesh/sdk/go v0.0.0

replace github.com/ppcmesh/mesh/sdk/go => ../../../../sdk/go
