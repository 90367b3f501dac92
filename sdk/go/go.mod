module github.com/ppcmesh/mesh/sdk/go

go 1.26
