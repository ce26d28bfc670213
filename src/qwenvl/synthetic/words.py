"""Hand-written word lists for rendered text and the text corpus: common English words, common
Chinese words, and simple facts in both languages. Built in, so nothing is downloaded.
"""

from __future__ import annotations

ENGLISH = tuple("""
able about above across act add after again age ago air all almost alone along also always among
and animal answer apple area arm art ask away baby back bad bag ball bank base bear beat bed bee
before begin bell best big bird black blue boat body bone book born both box boy bread break bring
brother brown build busy buy cake call camp can car card care carry case cat catch cause cell chair
change cheap check child city class clean clear climb clock close cloud coat cold color come cook
cool copy corn cost count cover cow cross cup cut dance dark day deep desk dinner dish dog door down
draw dream dress drink drive drop dry duck each early earth east easy eat egg end enter even evening
every eye face fact fall family farm fast father feel field fill find fine fire first fish five
floor flower fly follow food foot forest four free fresh friend frog front fruit full fun game
garden gate gift girl give glad glass go gold good grass great green ground group grow hair half
hand happy hard hat have head hear heart heavy help here high hill hold home hope horse hot hour
house huge idea inside iron island job join juice jump just keep key kind king kite lake lamp land
large last late laugh learn leaf left leg letter level light line lion list listen little live
long look love low lunch make man many map mark market milk mind money moon morning mother mountain
mouse move music name near neck new next nice night nine noise north nose note number ocean office
old open orange page paint paper park party pen people pick picture pink place plant play point
pool post quick quiet rabbit rain read red rest rice river road rock roof room round run safe salt
sand school sea seat see seed seven sheep ship shoe shop short side sign sing sister sit six sky
sleep slow small smile snow soft song soon sound south space speak spring stand star start station
stone stop store story street strong sugar summer sun sweet table tail talk tall tea team ten tiger
time today tree truck two under up walk wall warm watch water wave way week west wheel white wind
window winter wood word work world write yard year yellow young zero zoo
""".split())

CHINESE = tuple("""
你好 谢谢 再见 早上 晚上 中午 今天 明天 昨天 时间 时候 现在 以后 以前 星期 月份 年级 学校 老师 学生
同学 朋友 家人 爸爸 妈妈 哥哥 姐姐 弟弟 妹妹 爷爷 奶奶 孩子 医生 工人 农民 司机 警察 厨师 画家 作家
苹果 香蕉 西瓜 葡萄 橘子 草莓 面包 米饭 面条 饺子 鸡蛋 牛奶 茶水 果汁 咖啡 蛋糕 糖果 蔬菜 白菜 土豆
小猫 小狗 小鸟 小鱼 老虎 狮子 熊猫 兔子 大象 猴子 马儿 牛羊 鸭子 青蛙 蝴蝶 蜜蜂 花朵 小草 大树 森林
山川 河流 大海 湖泊 天空 白云 太阳 月亮 星星 雨水 雪花 春天 夏天 秋天 冬天 风景 公园 花园 城市 乡村
街道 马路 桥梁 车站 机场 商店 超市 银行 医院 饭店 图书 书店 电影 音乐 唱歌 跳舞 画画 写字 读书 跑步
游泳 爬山 旅行 休息 睡觉 起床 吃饭 喝水 工作 学习 开始 结束 进来 出去 上班 下班 回家 出门 打开 关上
汽车 火车 飞机 轮船 自行车 电脑 手机 电视 电话 桌子 椅子 门口 窗户 房间 厨房 客厅 书包 铅笔 本子 黑板
红色 黄色 蓝色 绿色 白色 黑色 紫色 橙色 粉色 棕色 大小 多少 高低 长短 快乐 开心 美丽 干净 安静 热闹
欢迎 出口 入口 禁止 停车 小心 注意 危险 安全 左转 右转 直行 请勿 吸烟 营业 开放 服务 问讯 售票 厕所
中国 北京 上海 广州 长江 黄河 世界 地球 国家 人民 文化 历史 语言 汉字 数学 科学 体育 美术 音乐课 作业
一个 两个 三个 四个 五个 六个 七个 八个 九个 十个 第一 第二 第三 一半 全部 每天 每年 许多 一些 几个
东方 西方 南方 北方 上面 下面 左边 右边 前面 后面 里面 外面 中间 旁边 附近 远方 这里 那里 哪里 到处
喜欢 希望 知道 认识 觉得 记得 忘记 相信 明白 需要 帮助 感谢 关心 照顾 等待 准备 决定 选择 发现 回答
圆形 方形 三角 星形 心形 房子 箭头 菱形 六边 十字 颜色 形状 图片 图画 文字 句子 问题 答案 故事 新闻
""".split())

# (English, Chinese) pairs of simple facts for the text corpus.
FACTS = (
    ("The sky is blue.", "天空是蓝色的。"),
    ("Grass is green.", "草是绿色的。"),
    ("Snow is white.", "雪是白色的。"),
    ("Bananas are yellow.", "香蕉是黄色的。"),
    ("Coal is black.", "煤是黑色的。"),
    ("Oranges are orange.", "橙子是橙色的。"),
    ("The sun is hot.", "太阳很热。"),
    ("Ice is cold.", "冰很冷。"),
    ("Fish live in water.", "鱼生活在水里。"),
    ("Birds can fly.", "鸟会飞。"),
    ("A square has four sides.", "正方形有四条边。"),
    ("A triangle has three sides.", "三角形有三条边。"),
    ("A hexagon has six sides.", "六边形有六条边。"),
    ("A circle is round.", "圆形是圆的。"),
    ("A star has five points.", "星形有五个角。"),
    ("A week has seven days.", "一个星期有七天。"),
    ("A year has four seasons.", "一年有四个季节。"),
    ("The moon shines at night.", "月亮在晚上发光。"),
    ("A cat has four legs.", "猫有四条腿。"),
    ("People read books.", "人们读书。"),
    ("Trees grow from seeds.", "树从种子长出来。"),
    ("Rain falls from clouds.", "雨从云里落下来。"),
    ("A house has a roof.", "房子有屋顶。"),
    ("An arrow points the way.", "箭头指示方向。"),
    ("Hearts mean love.", "心形代表爱。"),
    ("Left is the opposite of right.", "左边和右边相反。"),
    ("Big is the opposite of small.", "大和小相反。"),
    ("Red and yellow make orange.", "红色和黄色混合成橙色。"),
    ("Blue and yellow make green.", "蓝色和黄色混合成绿色。"),
    ("Red and blue make purple.", "红色和蓝色混合成紫色。"),
)
