const debug = require("debug")("hello");
debug.enable("hello");
debug("hello from Node %s", process.version);
