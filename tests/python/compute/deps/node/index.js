const isNumber = require("is-number");

exports.handler = async (event) => ({ five: isNumber(5), word: isNumber("five"), from: require.resolve("is-number") });
