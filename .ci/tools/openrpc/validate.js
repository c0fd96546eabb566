// Validates an OpenRPC document with the OpenRPC project's own validator.
// Usage: node validate.js DOC.json   (exit 0: valid; 1: the errors on stdout)
const { validateOpenRPCDocument } = require("@open-rpc/schema-utils-js");
const doc = JSON.parse(require("fs").readFileSync(process.argv[2], "utf8"));
const res = validateOpenRPCDocument(doc);
if (res === true) {
  console.log("valid");
  process.exit(0);
}
console.log(JSON.stringify(res, null, 1));
process.exit(1);
