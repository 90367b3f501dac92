module github.com/ppcmesh/mesh/host/plugin/testdata/hostile

go 1.26.0

require github.com/ppcmesh/mesh v0.0.0

replace github.com/ppcmesh/mesh => ../../../..
