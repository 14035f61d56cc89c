// How the oz-*.json dumps here were made: `npm install @openzeppelin/merkle-tree@1.0.8 && node README-gen.js`.
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const fs = require('fs');
const cases = { // the 'big' case is generated but not committed
  readme: [[["0x1111111111111111111111111111111111111111", "5000000000000000000"], ["0x2222222222222222222222222222222222222222", "2500000000000000000"]], ["address", "uint256"]],
  numbers: [[["0xAbCdEf0123456789abcdef0123456789ABCDEF01", 5], ["0x2222222222222222222222222222222222222222", 7]], ["address", "uint256"]],
  hexuint: [[["0x10", true, "0x" + "ab".repeat(32)], ["255", false, "0x" + "cd".repeat(32)]], ["uint8", "bool", "bytes32"]],
  dyn: [[["1", ["a", "bc"], "0x1234"], ["2", [], "0x"], ["3", ["x"], "0xff"]], ["uint256", "string[]", "bytes"]],
  tuple: [[[["1", "0x1111111111111111111111111111111111111111"], "-5"], [["2", "0x3333333333333333333333333333333333333333"], "9"]], ["(uint256,address)", "int256"]],
  single: [[["only"]], ["string"]],
  big: [Array.from({length: 1000}, (_, i) => ["0x" + (i+1).toString(16).padStart(40, "0"), "0x" + "70".repeat(20), String(i * 12345)]), ["address", "address", "uint256"]],
};
for (const [name, [values, enc]] of Object.entries(cases)) {
  for (const sortLeaves of [true, false]) {
    const t = StandardMerkleTree.of(values, enc, { sortLeaves });
    fs.writeFileSync(`oz-${name}-${sortLeaves ? 'sorted' : 'unsorted'}.json`, JSON.stringify(t.dump()));
    console.log(name, sortLeaves, t.root);
  }
}
