#!/usr/bin/env node
// Compile contracts/src/*.sol with the pinned solc-js and write one JSON artifact per contract
// (ABI, creation and runtime bytecode, compiler settings) to contracts/artifacts/ and to
// darkpool/contracts_artifacts/. With --check, compile in memory and exit 1 if any committed
// artifact differs, so the committed ABI and bytecode never drift from the sources.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');

const HERE = __dirname;
const SRC = path.join(HERE, 'src');
const OUTPUTS = [path.join(HERE, 'artifacts'), path.join(HERE, '..', 'darkpool', 'contracts_artifacts')];
const DEPLOYED = ['DarkPoolVault', 'MockAggregator', 'MockERC20', 'ReentrantERC20'];
const SETTINGS = {
  optimizer: { enabled: true, runs: 10000 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
};

// Imports such as "@openzeppelin/contracts/..." resolve from node_modules (versions pinned by the lock).
function findImport(importPath) {
  for (const base of [SRC, path.join(HERE, 'node_modules')]) {
    const file = path.join(base, importPath);
    if (file.startsWith(base + path.sep) && fs.existsSync(file)) return { contents: fs.readFileSync(file, 'utf8') };
  }
  return { error: `import not found: ${importPath}` };
}

function compile() {
  const sources = {};
  for (const name of fs.readdirSync(SRC).sort()) {
    if (name.endsWith('.sol')) sources[name] = { content: fs.readFileSync(path.join(SRC, name), 'utf8') };
  }
  const input = { language: 'Solidity', sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter(e => e.severity === 'error');
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage + '\n');
  if (errors.length) process.exit(2);
  const artifacts = {};
  for (const [file, contracts] of Object.entries(output.contracts)) {
    for (const [name, c] of Object.entries(contracts)) {
      if (!DEPLOYED.includes(name)) continue;
      artifacts[name] = {
        contractName: name,
        sourceName: file,
        compiler: { name: 'solc-js', version: solc.version(), settings: { ...SETTINGS, outputSelection: undefined } },
        abi: c.abi,
        bytecode: '0x' + c.evm.bytecode.object,
        deployedBytecode: '0x' + c.evm.deployedBytecode.object,
      };
    }
  }
  return artifacts;
}

function main() {
  const check = process.argv.includes('--check');
  const artifacts = compile();
  let drift = 0;
  for (const dir of OUTPUTS) {
    if (!check) fs.mkdirSync(dir, { recursive: true });
    for (const [name, artifact] of Object.entries(artifacts)) {
      const file = path.join(dir, name + '.json');
      const text = JSON.stringify(artifact, null, 2) + '\n';
      if (check) {
        const committed = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
        if (committed !== text) {
          process.stderr.write(`drift: ${path.relative(process.cwd(), file)} differs from a fresh build\n`);
          drift += 1;
        }
      } else {
        fs.writeFileSync(file, text);
        process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
      }
    }
  }
  if (check) {
    process.stdout.write(drift ? `${drift} artifact(s) drifted\n` : 'artifacts match the sources\n');
    process.exit(drift ? 1 : 0);
  }
}

main();
