// Reference oracle for tests/bridge/test_merkle.py: runs @openzeppelin/merkle-tree.
//
// stdin:  {"cases": [{"values": [...], "encoding": [...], "sortLeaves": bool,
//                     "proofIndices": [i, ...] (default: all), "multiIndices": [[i, ...], ...],
//                     "pyDump": {...} | null}, ...]}
// stdout: {"results": [{"root", "tree", "proofs" (for proofIndices),
//                       "multiproofs": [{leaves, proof, proofFlags}], "dump",
//                       "pyDumpRoot", "pyDumpProofs" (for proofIndices)}, ...]}
//
// The package is resolved from $OZ_MERKLE_DIR (default: <repo>/contracts).
// Exit code 3 if the package cannot be found (the test then skips).
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = process.env.OZ_MERKLE_DIR ?? path.resolve(here, '..', '..', '..', 'contracts');
const require = createRequire(path.join(pkgDir, 'package.json'));

let StandardMerkleTree;
try {
  ({ StandardMerkleTree } = require('@openzeppelin/merkle-tree'));
} catch (e) {
  process.stderr.write(`@openzeppelin/merkle-tree not found from ${pkgDir}: ${e.message}\n`);
  process.exit(3);
}

// BigInt-safe JSON output (the JS lib keeps values as given; bigints would not serialise).
const toJson = x => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = request.cases.map(c => {
  const tree = StandardMerkleTree.of(c.values, c.encoding, { sortLeaves: c.sortLeaves });
  const proofIndices = c.proofIndices ?? c.values.map((_, i) => i);
  const proofs = proofIndices.map(i => tree.getProof(i));
  const multiproofs = (c.multiIndices ?? []).map(ix => {
    const mp = tree.getMultiProof([...ix]); // getMultiProof sorts its argument in place
    if (!tree.verifyMultiProof(mp)) throw new Error('JS multiproof does not verify');
    return mp;
  });
  const out = { root: tree.root, tree: tree.dump().tree, proofs, multiproofs, dump: tree.dump() };
  if (c.pyDump) {
    const loaded = StandardMerkleTree.load(c.pyDump); // validates every value and node
    out.pyDumpRoot = loaded.root;
    out.pyDumpProofs = proofIndices.map(i => loaded.getProof(i));
  }
  return out;
});

process.stdout.write(toJson({ results }));
